"""The GPU path, measured: the course's GPU loop against the graph engine per IMDB epoch, image epochs eager vs graph
against a plain captured loop, and the batch-1 step the batch-size sweep spends its time in."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader

from reprolab.core.batches import TensorBatches
from reprolab.core.clock import phase
from reprolab.core.device import seed_everything
from reprolab.core.engines import WARMUP_STEPS, fit
from reprolab.core.errors import UserError
from reprolab.core.optim import Adam
from reprolab.core.params import ImdbRun, TrainingRun
from reprolab.core.paths import METRICS, REPORTS, TIMINGS
from reprolab.core.report import markdown_table
from reprolab.core.train import EpochResult, evaluate, loss_function
from reprolab.images.models import SimpleCNN
from reprolab.imdb.data import Bags
from reprolab.imdb.training import imdb_run
from reprolab.speed.course import CourseCachedOneHot, CourseOneHotMLP

RUN_FOLDERS = tuple(f"{folder}/" for folder in (METRICS, REPORTS, TIMINGS))  # a run's outputs, not its code


def require_cuda(what: str) -> torch.device:
    """The GPU a benchmark runs on, or one line saying that it needs one."""
    if not torch.cuda.is_available():
        raise UserError(f"{what} needs a CUDA GPU and PyTorch sees none; run it on a GPU machine")
    return torch.device("cuda")


def course_imdb_epochs(bags: dict[str, Bags], num_features: int, params: TrainingRun, device: torch.device) -> list[float]:
    """Course 002's GPU loop: cached dense float rows, a shuffling DataLoader with pinned memory, .to(device) per batch."""
    seed_everything(params.seed, deterministic=False)
    model = CourseOneHotMLP(num_features - 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr) if params.optimizer == "adam" else \
        torch.optim.SGD(model.parameters(), lr=params.lr)
    criterion = torch.nn.BCEWithLogitsLoss()
    loader = DataLoader(CourseCachedOneHot(bags["train"], num_features), batch_size=params.batch_size, shuffle=True,
                        pin_memory=True)
    seconds = []
    for _ in range(params.epochs):
        synchronize(device)
        start = time.perf_counter()
        model.train()
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            loss = criterion(model(inputs).squeeze(1), labels.float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on a GPU, so a clock read after it counts that work; CPU work is done when it returns."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def our_imdb_epochs(bags: dict[str, Bags], num_features: int, params: ImdbRun, device: torch.device,
                    engine: str, eval_batch_size: int = 1024) -> list[EpochResult]:
    """The pipeline's IMDB training, built as train_imdb builds it, with an engine, epoch by epoch."""
    run = imdb_run(params.model_copy(update={"engine": engine}), bags, num_features, eval_batch_size, device)
    return list(fit(run.model, run.train_batches, run.test_batches, params, run.criterion, run.criterion, run.engine,
                    resident=run.resident))


def image_epochs(images: dict[str, torch.Tensor], params: TrainingRun, device: torch.device, engine: str) -> list[EpochResult]:
    """SimpleCNN epochs over normalised images held on the GPU, eager or graph (epoch seconds exclude evaluation).

    images: train_images, train_labels, test_images, test_labels (the per-epoch evaluation is not timed).
    """
    generator = seed_everything(params.seed, params.deterministic)
    model = SimpleCNN().to(device)
    train = TensorBatches(images["train_images"], images["train_labels"], params.batch_size, device, shuffle=True,
                          generator=generator)
    test = TensorBatches(images["test_images"], images["test_labels"], 1000, device)
    criterion = loss_function("ce")
    return list(fit(model, train, test, params, criterion, criterion, engine))


def plain_image_epochs(images: dict[str, torch.Tensor], params: TrainingRun, device: torch.device) -> tuple[list[float], float]:
    """The yardstick for the graph engine's own cost (issue #26): the same SimpleCNN and fused Adam over the same resident
    images, each step's rows gathered by index_select(out=) into static buffers, one CUDA graph per step (eager off
    CUDA), no per-step bookkeeping, full batches only. Seconds per epoch, and the test accuracy after the last.
    """
    generator = torch.Generator(device=device).manual_seed(params.seed)
    seed_everything(params.seed, params.deterministic)
    model = SimpleCNN().to(device)
    optimizer = Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay, capturable=device.type == "cuda")
    inputs, labels = images["train_images"].to(device), images["train_labels"].to(device)
    rows = torch.zeros(params.batch_size, dtype=torch.int64, device=device)
    batch_inputs, batch_labels = inputs[: params.batch_size].clone(), labels[: params.batch_size].clone()

    def step() -> None:
        torch.index_select(inputs, 0, rows, out=batch_inputs)
        torch.index_select(labels, 0, rows, out=batch_labels)
        F.cross_entropy(model(batch_inputs), batch_labels).backward()
        optimizer.step()

    run_step = captured(step, optimizer.zero_grad) if device.type == "cuda" else lambda: (optimizer.zero_grad(), step())
    seconds = []
    for _ in range(params.epochs):
        synchronize(device)
        start = time.perf_counter()
        order = torch.randperm(len(labels), device=device, generator=generator)
        for first in range(0, len(labels) - params.batch_size + 1, params.batch_size):
            rows.copy_(order[first : first + params.batch_size])
            run_step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    test = TensorBatches(images["test_images"], images["test_labels"], 1000, device)
    return seconds, evaluate(model, test, loss_function("ce")).accuracy


def captured(step: Callable[[], None], zero_grad: Callable[[], None]) -> Callable[[], None]:
    """step as one CUDA graph, captured after warm-up steps on a side stream; returns its replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP_STEPS):
            zero_grad()
            step()
    torch.cuda.current_stream().wait_stream(side)
    zero_grad()  # the graph's backward then writes fresh gradients each replay
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def batch_one_step_seconds(bags: dict[str, Bags], num_features: int, params: ImdbRun, device: torch.device,
                           engine: str, reviews: int = 2000) -> float:
    """Seconds per IMDB training step at batch 1 (the batch-size sweep's costliest point), from the second of two epochs
    over `reviews` training reviews spread evenly over the split, so both classes (evaluated on as many test reviews).
    """
    def spread(split: str) -> Bags:
        return bags[split].select(np.linspace(0, len(bags[split]) - 1, min(reviews, len(bags[split])), dtype=np.int64))

    subset = {split: spread(split) for split in bags}
    epochs = our_imdb_epochs(subset, num_features, params.model_copy(update={"batch_size": 1, "epochs": 2}), device,
                             engine)
    return epochs[-1].seconds / len(subset["train"])


def nondeterministic_kernels() -> None:
    """Let torch and cuDNN pick any kernel again: seed_everything only ever switches determinism on."""
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


def pipeline_seconds(repo: Path, params: dict[str, Any], target: str = "report") -> float:
    """Wall time of `dvc repro target` in a fresh copy of the repository's tracked files, with dotted params set."""
    files = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "repo"
        for name in files:
            if (repo / name).is_file() and not name.startswith(RUN_FOLDERS) and name != "dvc.lock":
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


@phase("measure")
def gpu_benchmark(bags: dict[str, Bags], num_features: int, images: dict[str, torch.Tensor], imdb: ImdbRun,
                  small_batch: ImdbRun, image: TrainingRun, device: torch.device) -> dict[str, Any]:
    """Every GPU figure the README quotes, from one run: what ran it, IMDB epochs seed vs ours, the batch-1 step
    (small_batch: the sweeps' training), image epochs eager vs graph vs a plain captured loop, then without
    deterministic kernels (last, as switching them off holds for the rest of the process)."""
    seed = course_imdb_epochs(bags, num_features, imdb, device)
    graph, eager = (our_imdb_epochs(bags, num_features, imdb, device, engine) for engine in ("graph", "eager"))
    step = {engine: batch_one_step_seconds(bags, num_features, small_batch, device, engine) for engine in ("graph", "eager")}
    per_thousand = 1000 / len(images["train_labels"])
    image_eager, image_graph = (image_epochs(images, image, device, engine) for engine in ("eager", "graph"))
    plain, plain_accuracy = plain_image_epochs(images, image, device)
    nondeterministic_kernels()
    free = image.model_copy(update={"deterministic": False})
    image_graph_free = image_epochs(images, free, device, "graph")
    plain_free, _ = plain_image_epochs(images, free, device)
    plain_per_thousand = 1000 / (len(images["train_labels"]) // image.batch_size * image.batch_size)
    median = statistics.median
    return {
        "device": torch.cuda.get_device_name(device), "torch": torch.__version__,
        "imdb": {"epoch_seconds": {"seed": seed, "eager": [r.seconds for r in eager], "graph": [r.seconds for r in graph]},
                 "seed_over_graph": median(seed) / median(r.seconds for r in graph),
                 "graph_setup_seconds": graph[0].setup_seconds,
                 "test_accuracy": {"graph": graph[-1].test.accuracy, "eager": eager[-1].test.accuracy},
                 "batch_1_step_seconds": step},
        "images": {"train_images": len(images["train_labels"]),
                   "seconds_per_1000_images": {
                       "eager": [r.seconds * per_thousand for r in image_eager],
                       "graph": [r.seconds * per_thousand for r in image_graph],
                       "plain": [seconds * plain_per_thousand for seconds in plain],
                       "graph_nondeterministic": [r.seconds * per_thousand for r in image_graph_free],
                       "plain_nondeterministic": [seconds * plain_per_thousand for seconds in plain_free]},
                   "eager_over_graph": median(r.seconds for r in image_eager) / median(r.seconds for r in image_graph),
                   "graph_setup_seconds": image_graph[0].setup_seconds,
                   "test_accuracy": {"graph": image_graph[-1].test.accuracy, "plain": plain_accuracy}},
    }


def gpu_table(results: dict[str, Any]) -> str:
    """The figures as a markdown table (medians over epochs)."""
    median = statistics.median
    imdb, image = results["imdb"], results["images"]
    step, per_1000, accuracy = imdb["batch_1_step_seconds"], image["seconds_per_1000_images"], image["test_accuracy"]

    def images_row(what: str, key: str, accuracy: str = "") -> list[str]:
        return [f"images, {what}, per 1,000 training images", f"{median(per_1000[key]) * 1000:.2f} ms", accuracy]

    rows = [
        ["IMDB epoch, course's GPU loop (cached dense rows, DataLoader)", f"{median(imdb['epoch_seconds']['seed']) * 1000:.1f} ms", ""],
        ["IMDB epoch, eager engine (data on the GPU)", f"{median(imdb['epoch_seconds']['eager']) * 1000:.1f} ms",
         f"{imdb['test_accuracy']['eager']:.4f}"],
        ["IMDB epoch, graph engine", f"{median(imdb['epoch_seconds']['graph']) * 1000:.1f} ms",
         f"{imdb['test_accuracy']['graph']:.4f}"],
        ["IMDB graph engine, warm-up and capture (once, before epoch 1)", f"{imdb['graph_setup_seconds'] * 1000:.0f} ms", ""],
        ["IMDB step at batch 1 (the sweeps' training), graph engine", f"{step['graph'] * 1e6:.0f} µs", ""],
        ["IMDB step at batch 1, eager engine", f"{step['eager'] * 1e6:.0f} µs", ""],
        images_row("eager", "eager"),
        images_row("graph", "graph", f"{accuracy['graph']:.4f}"),
        images_row("a plain loop, one CUDA graph per step (the yardstick)", "plain", f"{accuracy['plain']:.4f}"),
        images_row("graph, deterministic kernels off", "graph_nondeterministic"),
        images_row("the plain loop, deterministic kernels off", "plain_nondeterministic"),
        ["images graph engine, warm-up and capture (once, before epoch 1)", f"{image['graph_setup_seconds'] * 1000:.0f} ms", ""],
    ]
    if "pipeline_seconds" in results:
        rows.append(["whole `dvc repro report`", f"{results['pipeline_seconds']:.0f} s", ""])
    header = f"{results['device']}, torch {results['torch']}: seed / graph = {imdb['seed_over_graph']:.1f}x\n\n"
    return header + markdown_table(["what", "median", "test accuracy"], rows)
