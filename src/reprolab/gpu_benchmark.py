"""The GPU path, measured: the seed's GPU loop against the graph engine per IMDB epoch, image epochs eager vs graph."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader

from reprolab.batches import BagBatches, TensorBatches
from reprolab.device import seed_everything
from reprolab.engines import fit
from reprolab.errors import UserError
from reprolab.imdb import Bags
from reprolab.imdb_models import OneHotMLP
from reprolab.models import SimpleCNN
from reprolab.params import TrainingRun
from reprolab.report import markdown_table
from reprolab.seed_reference import SeedCachedOneHot, SeedOneHotMLP
from reprolab.train import loss_function


def require_cuda(what: str) -> torch.device:
    """The GPU a benchmark runs on, or one line saying that it needs one."""
    if not torch.cuda.is_available():
        raise UserError(f"{what} needs a CUDA GPU and PyTorch sees none; run it on a GPU machine")
    return torch.device("cuda")


def seed_imdb_epochs(bags: dict[str, Bags], num_features: int, params: TrainingRun, device: torch.device) -> list[float]:
    """Seed 002's GPU loop: cached dense float rows, a shuffling DataLoader with pinned memory, .to(device) per batch."""
    seed_everything(params.seed, deterministic=False)
    model = SeedOneHotMLP(num_features - 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr) if params.optimizer == "adam" else \
        torch.optim.SGD(model.parameters(), lr=params.lr)
    criterion = torch.nn.BCEWithLogitsLoss()
    loader = DataLoader(SeedCachedOneHot(bags["train"], num_features), batch_size=params.batch_size, shuffle=True,
                        pin_memory=True)
    seconds = []
    for _ in range(params.epochs):
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        model.train()
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            loss = criterion(model(inputs).squeeze(1), labels.float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def our_imdb_epochs(bags: dict[str, Bags], num_features: int, params: TrainingRun, device: torch.device,
                    engine: str, eval_batch_size: int = 1024) -> tuple[list[float], float]:
    """The pipeline's IMDB training (OneHotMLP, BagBatches on the GPU) with an engine: epoch seconds, final test accuracy."""
    generator = seed_everything(params.seed, params.deterministic)
    model = OneHotMLP(num_features, params.hidden, params.head, params.model).to(device)
    train = BagBatches(bags["train"], params.batch_size, device, shuffle=True, generator=generator)
    test = BagBatches(bags["test"], eval_batch_size, device)
    criterion = loss_function(params.head)
    results = list(fit(model, train, test, params, criterion, criterion, engine))
    return [r.seconds for r in results], results[-1].test.accuracy


def image_epochs(images: dict[str, torch.Tensor], params: TrainingRun, device: torch.device, engine: str) -> list[float]:
    """SimpleCNN epochs over normalised images held on the GPU, eager or graph; seconds per training epoch.

    images: train_images, train_labels, test_images, test_labels (the per-epoch evaluation is not timed).
    """
    generator = seed_everything(params.seed, params.deterministic)
    model = SimpleCNN().to(device)
    train = TensorBatches(images["train_images"], images["train_labels"], params.batch_size, device, shuffle=True,
                          generator=generator)
    test = TensorBatches(images["test_images"], images["test_labels"], 1000, device)
    criterion = loss_function("ce")
    return [r.seconds for r in fit(model, train, test, params, criterion, criterion, engine)]


def pipeline_seconds(repo: Path, params: dict[str, Any], target: str = "report") -> float:
    """Wall time of `dvc repro target` in a fresh copy of the repository's tracked files, with dotted params set."""
    files = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "repo"
        for name in files:
            if (repo / name).is_file() and not name.startswith(("metrics/", "timings/", "reports/")) and name != "dvc.lock":
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(repo / name, copy / name)
        values = yaml.safe_load((copy / "params.yaml").read_text())
        for dotted, value in params.items():
            *sections, key = dotted.split(".")
            target_section = values
            for section in sections:
                target_section = target_section[section]
            target_section[key] = value
        (copy / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dvc", "repro", target], cwd=copy, check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(repo / "src")})
        return time.perf_counter() - start


def gpu_benchmark(bags: dict[str, Bags], num_features: int, images: dict[str, torch.Tensor], imdb: TrainingRun,
                  image: TrainingRun, device: torch.device) -> dict[str, Any]:
    """Every GPU figure the README quotes, from one run: what ran it, IMDB epochs seed vs ours, image epochs eager vs graph."""
    seed = seed_imdb_epochs(bags, num_features, imdb, device)
    graph, accuracy = our_imdb_epochs(bags, num_features, imdb, device, "graph")
    eager, eager_accuracy = our_imdb_epochs(bags, num_features, imdb, device, "eager")
    per_thousand = 1000 / len(images["train_labels"])
    image_eager = [t * per_thousand for t in image_epochs(images, image, device, "eager")]
    image_graph = [t * per_thousand for t in image_epochs(images, image, device, "graph")]
    median = statistics.median
    return {
        "device": torch.cuda.get_device_name(device), "torch": torch.__version__,
        "imdb": {"epoch_seconds": {"seed": seed, "eager": eager, "graph": graph},
                 "seed_over_graph": median(seed) / median(graph),
                 "test_accuracy": {"graph": accuracy, "eager": eager_accuracy}},
        "images": {"train_images": len(images["train_labels"]),
                   "seconds_per_1000_images": {"eager": image_eager, "graph": image_graph},
                   "eager_over_graph": median(image_eager) / median(image_graph)},
    }


def gpu_table(results: dict[str, Any]) -> str:
    """The figures as a markdown table (medians over epochs)."""
    median = statistics.median
    imdb, image = results["imdb"], results["images"]
    rows = [
        ["IMDB epoch, seed's GPU loop (cached dense rows, DataLoader)", f"{median(imdb['epoch_seconds']['seed']) * 1000:.1f} ms", ""],
        ["IMDB epoch, eager engine (data on the GPU)", f"{median(imdb['epoch_seconds']['eager']) * 1000:.1f} ms",
         f"{imdb['test_accuracy']['eager']:.4f}"],
        ["IMDB epoch, graph engine", f"{median(imdb['epoch_seconds']['graph']) * 1000:.1f} ms",
         f"{imdb['test_accuracy']['graph']:.4f}"],
        ["images, eager, per 1,000 training images", f"{median(image['seconds_per_1000_images']['eager']) * 1000:.2f} ms", ""],
        ["images, graph, per 1,000 training images", f"{median(image['seconds_per_1000_images']['graph']) * 1000:.2f} ms", ""],
    ]
    if "pipeline_seconds" in results:
        rows.append(["whole `dvc repro report`", f"{results['pipeline_seconds']:.0f} s", ""])
    header = f"{results['device']}, torch {results['torch']}: seed / graph = {imdb['seed_over_graph']:.1f}x\n\n"
    return header + markdown_table(["what", "median", "test accuracy"], rows)
