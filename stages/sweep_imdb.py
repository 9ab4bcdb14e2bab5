"""Stage sweep_<name>: every point of one seed 002 sweep in one process, each trained with sweeps.base and one thing changed."""

import time

from reprolab.atomic import atomic_path, json_text
from reprolab.cli import parse_stage_args, run_stage
from reprolab.device import device_info, resolve_device
from reprolab.imdb import build_vocab, data_report, encode_inputs, imdb_data_file, load_bags, read_archive, tokenize_reviews
from reprolab.params import load_sweep_params, stage_choice
from reprolab.registry import IMDB_MODELS, SWEEPS
from reprolab.sweeps import point_metrics, point_name, point_params, subset_bags, train_point

ARCHIVE = "data/raw/aclImdb_v1.tar.gz"


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("sweep", "one of " + ", ".join(SWEEPS)),))
    params = load_sweep_params()
    sweep = stage_choice(args.sweep, SWEEPS, "sweep_imdb: sweep")
    device = resolve_device(params.base.device, "sweeps.base.device")
    values = params.values[sweep]
    encoded = None if sweep == "tokenizer" else load_bags(imdb_data_file(params.base.model))
    reviews = read_archive(ARCHIVE) if sweep == "tokenizer" else None
    with (atomic_path(f"metrics/sweeps/{sweep}", directory=True) as metrics_dir,
          atomic_path(f"timings/sweeps/{sweep}", directory=True) as timings_dir):
        for number, value in enumerate(values, 1):
            print(f"sweep {sweep}: point {number} of {len(values)}, {sweep} = {value}", flush=True)
            train, extra = point_params(params.base, sweep, value), {}
            if sweep == "tokenizer":
                corpus = tokenize_reviews(reviews, value)
                vocab = build_vocab(corpus, params.vocab_size)
                bags, num_features = encode_inputs(corpus, vocab, IMDB_MODELS[train.model].inputs)
                extra = {"data": data_report(corpus, vocab)["train"]}
            else:
                bags, num_features = encoded
                if sweep == "subset":
                    bags = subset_bags(bags, value, params.subset_size)
            start = time.perf_counter()
            first_loss, epochs = train_point(train, bags, num_features, device, params.eval_batch_size)
            seconds = time.perf_counter() - start
            name = f"{point_name(value)}.json"
            (metrics_dir / name).write_text(json_text({**point_metrics(sweep, value, first_loss, epochs, bags), **extra},
                                                      metrics_dir / name))
            (timings_dir / name).write_text(json_text({**device_info(device), "value": value,
                                                       "train_seconds": round(seconds, 3),
                                                       "epoch_seconds": [round(r.seconds, 3) for r in epochs]},
                                                      timings_dir / name))
            print(f"sweep {sweep} = {value}: test accuracy {epochs[-1].test.accuracy:.4f}, {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    run_stage(main)
