"""One sweep point as the sweep stage trains it, and what it spends outside its epochs (issue #26: at most 1 s).

sweeps.base from params.yaml with batch_size set, on one thread (as side-by-side points run), on the encoded
reviews. Outside the epochs: the run's setup, the initial loss and each epoch's test evaluation. It runs against
older code too, to compare: PYTHONPATH=<a checkout>/src python benchmarks/sweep_point.py

    python benchmarks/sweep_point.py --batch-size 1 --epochs 1      # after encode_imdb
"""

import argparse
import time

import torch

from reprolab.core.params import load_params
from reprolab.core.paths import imdb_inputs
from reprolab.imdb.data import load_bags
from reprolab.imdb.sweeps import point_params, train_point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    params = load_params("evaluate_imdb", "sweeps")
    run = point_params(params.sweeps.base, "batch_size", args.batch_size).model_copy(update={"epochs": args.epochs})
    bags, features = load_bags(imdb_inputs(run.model))
    torch.set_num_threads(1)
    start = time.perf_counter()
    _, epochs = train_point(run, bags, features, torch.device("cpu"), params.evaluate_imdb.batch_size)
    total, inside = time.perf_counter() - start, sum(epoch.seconds for epoch in epochs)
    print(f"batch {args.batch_size}, {args.epochs} epoch(s): {total:.2f} s, of which epochs {inside:.2f} s and "
          f"outside them {total - inside:.2f} s")


if __name__ == "__main__":
    main()
