"""The torch ops one graph-engine training step runs, counted on CPU: each op that computes is at least one kernel
in the CUDA graph the engine captures, and at small batches a step's cost on a GPU is mostly its kernels (issue #26).

The steps are the engine's own (ResidentTrainer, uncaptured): the IMDB step of the sweeps' training (sweeps.base) at
--batch-size, and the image step of train_images (SimpleCNN). Views (no kernel) are counted apart. On CPU plain SGD
updates its 4 tensors one op each, where CUDA takes one foreach op for all of them.

    python benchmarks/step_ops.py --batch-size 1
"""

import argparse
from collections import Counter

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from reprolab.core.batches import TensorBatches
from reprolab.core.engines import ResidentTrainer, resident_tensors
from reprolab.core.optim import make_optimizer
from reprolab.core.params import load_params
from reprolab.core.train import loss_function
from reprolab.images.models import image_model
from reprolab.imdb.batches import BagBatches
from reprolab.imdb.data import Bags
from reprolab.imdb.models import imdb_config, imdb_model
from reprolab.imdb.training import resident_bags

VIEWS = {"detach", "t", "view", "slice", "squeeze", "unsqueeze", "_unsafe_view", "alias", "expand", "select"}


class CountOps(TorchDispatchMode):
    """Counts every aten op dispatched while active, by name."""

    def __init__(self):
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def step_ops(trainer: ResidentTrainer, rows: torch.Tensor) -> Counter[str]:
    """The ops of one step (what a captured graph holds), after a first step has made the optimizer's state."""
    trainer.optimizer.zero_grad()
    trainer._step(rows)
    trainer.optimizer.zero_grad()
    with CountOps() as counter:
        trainer._step(rows)
    return counter.ops


def report(name: str, ops: Counter[str]) -> None:
    computing = {op: count for op, count in ops.items() if op not in VIEWS}
    print(f"{name}: {sum(computing.values())} computing ops, {sum(ops.values()) - sum(computing.values())} views")
    print("  " + ", ".join(f"{op} {count}" for op, count in sorted(computing.items(), key=lambda item: -item[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1, help="the IMDB step's batch size")
    args = parser.parse_args()
    params = load_params("sweeps", "train_images")
    cpu, generator = torch.device("cpu"), torch.Generator().manual_seed(0)

    imdb = params.sweeps.base.model_copy(update={"batch_size": args.batch_size})
    reviews, words = 4 * args.batch_size, 130  # about an IMDB review's distinct words
    bags = Bags(ids=np.arange(reviews * words) % 20_000 + 1, offsets=np.arange(reviews + 1) * words,
                labels=np.arange(reviews) % 2)
    model = imdb_model(imdb_config(imdb, 20_001))
    held = resident_bags(BagBatches(bags, imdb.batch_size, cpu, shuffle=True, generator=generator), generator)
    trainer = ResidentTrainer(model, make_optimizer(model, imdb), loss_function(imdb.head), held, imdb, capture=False)
    report(f"IMDB step, batch {imdb.batch_size}, {imdb.optimizer}", step_ops(trainer, torch.arange(imdb.batch_size)))

    images = params.train_images
    labels = torch.arange(4 * images.batch_size) % 10
    held = resident_tensors(TensorBatches(torch.randn(len(labels), 1, 28, 28), labels, images.batch_size, cpu,
                                          shuffle=True, generator=generator), generator)
    model = image_model(images.model, images.hidden)
    trainer = ResidentTrainer(model, make_optimizer(model, images), loss_function("ce"), held, images, capture=False)
    report(f"image step, batch {images.batch_size}, {images.optimizer}", step_ops(trainer, torch.arange(images.batch_size)))


if __name__ == "__main__":
    main()
