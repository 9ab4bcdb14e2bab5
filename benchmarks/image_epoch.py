"""One Fashion-MNIST (or MNIST) SimpleCNN training epoch: the course's loop beside this project's, same process.

The course's loop (course 000): torchvision's dataset with per-sample ToTensor + Normalize, a default
DataLoader (batch 64, shuffle, num_workers 0) over a Subset, and the course's SimpleCNN. Ours: the
cached uint8 tensors normalized once, whole batches by index (TensorBatches), reprolab's SimpleCNN.
The two mixed combinations show how much of the gain is the data path and how much the model.

    python benchmarks/image_epoch.py --dataset fashion_mnist --repeats 3
(after `dvc repro imbalance@fashion_mnist`; reads data/images/<dataset>.pt and -kept.pt)
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from reprolab.core.batches import TensorBatches
from reprolab.core.params import load_params
from reprolab.core.paths import images_file, kept_file
from reprolab.core.registry import IMAGE_DATASETS
from reprolab.images.data import load_images, load_kept, normalized
from reprolab.images.models import SimpleCNN
from reprolab.speed.course import CourseSimpleCNN, course_image_loader


def epoch_seconds(model: nn.Module, batches, fused: bool) -> float:
    """Wall time of one training epoch with Adam(lr=1e-3) and cross-entropy."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    criterion = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for images, labels in batches:
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=list(IMAGE_DATASETS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    source = getattr(load_params("data").data, args.dataset)
    arrays = load_images(images_file(args.dataset))
    kept = load_kept(kept_file(args.dataset))
    torch.manual_seed(0)
    ours_loader = TensorBatches(normalized(arrays["train_images"][kept], source.mean, source.std),
                                arrays["train_labels"][kept], args.batch_size, torch.device("cpu"), shuffle=True,
                                generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as root:
        seed = course_image_loader(arrays, kept, args.dataset, Path(root), source.mean, source.std, args.batch_size)
        runs = {
            "course loop (per-sample transforms, course's SimpleCNN)": lambda: epoch_seconds(CourseSimpleCNN(), seed, False),
            "course loader + reprolab SimpleCNN": lambda: epoch_seconds(SimpleCNN(), seed, True),
            "reprolab batches + course's SimpleCNN": lambda: epoch_seconds(CourseSimpleCNN(), ours_loader, False),
            "reprolab (batches + SimpleCNN + fused Adam)": lambda: epoch_seconds(SimpleCNN(), ours_loader, True),
        }
        times = {name: [] for name in runs}
        for _ in range(args.repeats):  # interleaved, so drifting machine load hits every variant alike
            for name, run in runs.items():
                times[name].append(run())
    baseline = statistics.median(times[next(iter(runs))])
    results = {"dataset": args.dataset, "train_samples": len(kept), "batch_size": args.batch_size,
               "threads": torch.get_num_threads(), "torch": torch.__version__, "runs": {}}
    print(f"{args.dataset}: {len(kept)} training images, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        results["runs"][name] = {"median_seconds": round(median, 3), "min_seconds": round(min(seconds), 3),
                                 "max_seconds": round(max(seconds), 3), "speedup": round(baseline / median, 2)}
        print(f"  {name:48s} {median:7.2f} s/epoch   {baseline / median:5.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
