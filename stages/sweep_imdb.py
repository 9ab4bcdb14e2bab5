"""Stage sweep_<name>@<value>: one point of a seed 002 sweep, trained with sweeps.base and one thing changed."""

import sys
import time

from reprolab.atomic import write_json
from reprolab.cli import run_stage
from reprolab.device import device_info, resolve_device
from reprolab.imdb import SPLITS, build_vocab, data_report, encode_split, load_bags, read_archive, tokenize_reviews, vocab_lookup
from reprolab.params import SWEEPS, load_sweep_params, stage_choice
from reprolab.sweeps import point_metrics, point_params, subset_bags, sweep_value, train_point

ARCHIVE = "data/raw/aclImdb_v1.tar.gz"
ENCODED = "data/imdb/encoded.npz"


def main() -> None:
    params = load_sweep_params()
    sweep = stage_choice(sys.argv[1], SWEEPS, "sweep_imdb: sweep")
    value = sweep_value(params.values[sweep], sys.argv[2], sweep)
    train = point_params(params.base, sweep, value)
    device = resolve_device(train.device, "sweeps.base.device")
    extra = {}
    if sweep == "tokenizer":
        corpus = tokenize_reviews(read_archive(ARCHIVE), value)
        vocab = build_vocab(corpus, params.vocab_size)
        lookup = vocab_lookup(corpus, vocab)
        bags, num_features = {split: encode_split(corpus, lookup, split) for split in SPLITS}, len(vocab) + 1
        extra = {"data": data_report(corpus, vocab)["train"]}
    else:
        bags, num_features = load_bags(ENCODED)
        if sweep == "subset":
            bags = subset_bags(bags, value, params.subset_size)
    start = time.perf_counter()
    first_loss, epochs = train_point(train, bags, num_features, device, params.eval_batch_size)
    seconds = time.perf_counter() - start
    name = f"{sweep}/{sys.argv[2]}"  # as dvc.yaml spells the value, so outs match
    write_json(f"metrics/sweeps/{name}.json", {**point_metrics(sweep, value, first_loss, epochs, bags), **extra})
    write_json(f"timings/sweeps/{name}.json", {**device_info(device), "value": value, "train_seconds": round(seconds, 3),
                                               "epoch_seconds": [round(r.seconds, 3) for r in epochs]})
    print(f"sweep {sweep}={value}: test accuracy {epochs[-1].test.accuracy:.4f}, {seconds:.1f} s")


if __name__ == "__main__":
    run_stage(main)
