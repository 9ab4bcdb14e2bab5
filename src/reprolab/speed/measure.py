"""Measured, not guessed: DataLoader settings and per-batch time breakdowns (course 000 section 2, course 002 II.2)."""

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from reprolab.core.clock import phase
from reprolab.core.engines import batch_step
from reprolab.core.optim import make_optimizer
from reprolab.core.params import TrainingRun
from reprolab.core.train import Criterion

PHASES = ("data", "to_device", "forward", "backward_step")


class IOBoundDataset(Dataset):
    """Course 000's IOIntensiveDataset: random features, and a sleep per item standing in for disk or network."""

    def __init__(self, num_samples: int = 1000, feature_size: int = 1000, delay_seconds: float = 0.001):
        generator = torch.Generator().manual_seed(0)
        self.data = torch.randn(num_samples, feature_size, generator=generator)
        self.labels = torch.randint(0, 2, (num_samples,), generator=generator)
        self.delay_seconds = delay_seconds

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(self.delay_seconds)
        return self.data[idx], self.labels[idx]


class InMemoryDataset(Dataset):
    """Per-item access to tensors already in memory: what a map-style Dataset over a cache does."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor):
        self.inputs, self.labels = inputs, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[idx], self.labels[idx]


@dataclass(frozen=True)
class LoaderConfig:
    """The DataLoader flags the course tunes."""

    num_workers: int = 0
    prefetch_factor: int | None = None
    pin_memory: bool = False
    persistent_workers: bool = False
    drop_last: bool = False

    @property
    def name(self) -> str:
        flags = [f"workers={self.num_workers}"]
        if self.num_workers:
            flags.append(f"prefetch={self.prefetch_factor}")
        flags += [flag for flag, on in (("pin_memory", self.pin_memory), ("persistent", self.persistent_workers),
                                        ("drop_last", self.drop_last)) if on]
        return " ".join(flags)

    def loader(self, dataset: Dataset, batch_size: int, seed: int) -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                          num_workers=self.num_workers, prefetch_factor=self.prefetch_factor,
                          pin_memory=self.pin_memory, persistent_workers=self.persistent_workers,
                          drop_last=self.drop_last)


def loader_configs(num_workers: Iterable[int], prefetch_factors: Iterable[int]) -> list[LoaderConfig]:
    """A num_workers sweep with defaults, then one flag at a time on 2 workers, then all of them on."""
    configs = [LoaderConfig(workers, 2 if workers else None) for workers in num_workers]
    configs += [LoaderConfig(2, factor) for factor in prefetch_factors if factor != 2]
    configs += [LoaderConfig(2, 2, pin_memory=True), LoaderConfig(2, 2, persistent_workers=True),
                LoaderConfig(2, 2, drop_last=True), LoaderConfig(2, 2, True, True, True)]
    return configs


@phase("measure")
def batches_per_second(make_batches: Callable[[], Iterable], batches: int, epochs: int) -> float:
    """Batches per second over `epochs` passes of at most `batches` batches, a fresh iterator each pass."""
    start, count = time.perf_counter(), 0
    for _ in range(epochs):
        for i, _batch in enumerate(make_batches()):
            count += 1
            if i + 1 == batches:
                break
    return count / (time.perf_counter() - start)


def summarize(samples: list[float]) -> dict[str, float]:
    """min / median / max of repeated measurements."""
    return {"min": min(samples), "median": statistics.median(samples), "max": max(samples)}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


Forward = Callable[[Any], tuple[torch.Tensor, Callable[[], None]]]


def autograd_forward(loss_of: Callable[[Any], torch.Tensor], optimizer: torch.optim.Optimizer) -> Forward:
    """A batch's loss and its step by plain autograd and the optimizer: the course's loops."""
    def forward(batch):
        loss = loss_of(batch)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return loss, step
    return forward


def training_forward(model: nn.Module, criterion: Criterion, params: TrainingRun) -> Forward:
    """A batch's loss and its step exactly as an eager training epoch takes them (engines.batch_step), with the
    optimizer training would make for params."""
    take = batch_step(model, make_optimizer(model, params), criterion, params)

    def forward(batch):
        *inputs, labels = batch
        _, loss, step = take(inputs, labels)
        return loss, step
    return forward


@phase("measure")
def step_breakdown(batches: Iterable, to_device: Callable, forward: Forward, device: torch.device, limit: int,
                   warmup: int = 3) -> dict[str, float]:
    """Mean milliseconds per batch in each phase: fetch, host->device copy, forward + loss, backward + step."""
    totals, measured = dict.fromkeys(PHASES, 0.0), 0
    iterator: Iterator = iter(batches)
    for step in range(limit + warmup):
        _synchronize(device)
        marks = [time.perf_counter()]
        batch = next(iterator, None)
        if batch is None:
            break
        marks.append(time.perf_counter())
        batch = to_device(batch)
        _synchronize(device)
        marks.append(time.perf_counter())
        _, step_of_batch = forward(batch)
        _synchronize(device)
        marks.append(time.perf_counter())
        step_of_batch()
        _synchronize(device)
        marks.append(time.perf_counter())
        if step >= warmup:
            measured += 1
            for part, begin, end in zip(PHASES, marks[:-1], marks[1:], strict=True):
                totals[part] += end - begin
    return {part: 1000 * total / max(measured, 1) for part, total in totals.items()}
