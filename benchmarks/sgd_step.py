"""Plain-SGD steps of the one-hot MLP: autograd and torch.optim.SGD against OneHotMLP.sgd_forward, same process.

Both paths start from the same weights and take the same batches, alternating passes of `--batches`
batches; the weights must come out bit for bit the same, and the ratio is the median pass time.

    python benchmarks/sgd_step.py --batch-size 1 --threads 1
(after `dvc repro encode_imdb`; reads the embedding_bag inputs that stage writes)
"""

import argparse
import statistics
import time

import torch

from reprolab.core.params import load_params
from reprolab.core.paths import imdb_inputs
from reprolab.core.train import loss_function
from reprolab.imdb.data import load_bags
from reprolab.imdb.models import imdb_batches, imdb_config, imdb_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, default=100, help="batches per timed pass")
    parser.add_argument("--passes", type=int, default=8, help="timed passes of each path, alternating")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params("sweeps").sweeps.base.model_copy(update={
        "batch_size": args.batch_size, "optimizer": "sgd", "momentum": 0.0, "weight_decay": 0.0, "grad_clip": 0.0})
    bags, num_features = load_bags(imdb_inputs("embedding_bag"))
    config = imdb_config(params, num_features)
    torch.manual_seed(params.seed)
    by_autograd = imdb_model(config)
    by_hand = imdb_model(config)
    by_hand.load_state_dict(by_autograd.state_dict())
    optimizer, criterion = torch.optim.SGD(by_autograd.parameters(), lr=params.lr), loss_function(params.head)
    batches = list(imdb_batches("embedding_bag", bags["train"], params.batch_size, torch.device("cpu")))[:args.batches]

    def autograd_pass() -> None:
        for ids, offsets, labels in batches:
            loss = criterion(by_autograd(ids, offsets), labels)
            loss.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def hand_pass() -> None:
        for ids, offsets, labels in batches:
            logits, step = by_hand.sgd_forward(ids, offsets)
            loss = criterion(logits, labels)
            loss.item()
            loss.backward()
            step(params.lr)

    times = {"autograd + torch.optim.SGD": [], "OneHotMLP.sgd_forward": []}
    for _ in range(args.passes):
        for name, run in zip(times, (autograd_pass, hand_pass), strict=True):
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / len(batches) * 1000)
    same = all(torch.equal(a, b) for a, b in zip(by_autograd.parameters(), by_hand.parameters(), strict=True))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"batch {args.batch_size}, {args.threads} thread(s), torch {torch.__version__}: "
          + ", ".join(f"{name} {ms:.3f} ms per step" for name, ms in medians.items())
          + f"; ratio {medians['autograd + torch.optim.SGD'] / medians['OneHotMLP.sgd_forward']:.2f}x; "
          + f"weights bit for bit the same: {same}")


if __name__ == "__main__":
    main()
