"""Stage sweep_<name>@<value>: one point of a seed 002 sweep, trained with sweeps.base and one thing changed."""

import time

from reprolab.atomic import ensure_writable, write_json
from reprolab.cli import parse_stage_args, run_stage
from reprolab.device import device_info, resolve_device
from reprolab.imdb import (build_vocab, data_report, encode_inputs, imdb_data_file, input_kind, load_bags, read_archive,
                           tokenize_reviews)
from reprolab.params import SWEEPS, load_sweep_params, stage_choice
from reprolab.sweeps import point_metrics, point_params, subset_bags, sweep_value, train_point

ARCHIVE = "data/raw/aclImdb_v1.tar.gz"


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("sweep", "one of " + ", ".join(SWEEPS)),
                                                ("value", "one value of the params.yaml list sweeps.<sweep>")))
    params = load_sweep_params()
    sweep = stage_choice(args.sweep, SWEEPS, "sweep_imdb: sweep")
    value = sweep_value(params.values[sweep], args.value, sweep)
    train = point_params(params.base, sweep, value)
    device = resolve_device(train.device, "sweeps.base.device")
    name = f"{sweep}/{args.value}"  # as dvc.yaml spells the value, so outs match
    metrics_path, timings_path = f"metrics/sweeps/{name}.json", f"timings/sweeps/{name}.json"
    ensure_writable(metrics_path, timings_path)
    extra = {}
    if sweep == "tokenizer":
        corpus = tokenize_reviews(read_archive(ARCHIVE), value)
        vocab = build_vocab(corpus, params.vocab_size)
        bags, num_features = encode_inputs(corpus, vocab, input_kind(train.model))
        extra = {"data": data_report(corpus, vocab)["train"]}
    else:
        bags, num_features = load_bags(imdb_data_file(train.model))
        if sweep == "subset":
            bags = subset_bags(bags, value, params.subset_size)
    start = time.perf_counter()
    first_loss, epochs = train_point(train, bags, num_features, device, params.eval_batch_size)
    seconds = time.perf_counter() - start
    write_json(metrics_path, {**point_metrics(sweep, value, first_loss, epochs, bags), **extra})
    write_json(timings_path, {**device_info(device), "value": value, "train_seconds": round(seconds, 3),
                              "epoch_seconds": [round(r.seconds, 3) for r in epochs]})
    print(f"sweep {sweep}={value}: test accuracy {epochs[-1].test.accuracy:.4f}, {seconds:.1f} s")


if __name__ == "__main__":
    run_stage(main)
