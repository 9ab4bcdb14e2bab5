"""Training engines, chosen by a training section's `engine`: eager steps, or one CUDA graph per step.

eager: one Python step per batch (any device), in one process or several (DistributedDataParallel
under torchrun). graph: the training split lives on the GPU, each epoch's order is drawn there, and
each step (gather, forward, backward, optimizer) is replayed as a captured CUDA graph, so no host
round trip sits inside an epoch.
"""

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from reprolab.core.batches import TensorBatches, epoch_order
from reprolab.core.clock import mark_first, phase
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.errors import UserError
from reprolab.core.optim import Optimizer, make_optimizer
from reprolab.core.params import TrainingRun
from reprolab.core.registry import ENGINES
from reprolab.core.train import (Batch, Criterion, EpochResult, autocast, diverged, evaluate, predicted_labels,
                                 require_finite)

WARMUP_STEPS = 3  # eager steps on a side stream before capture, as torch.cuda.graphs asks; undone afterwards


def resolve_engine(name: str, device: torch.device, graphable: bool, param: str, processes: int = 1) -> str:
    """auto -> graph on CUDA in one process (when the model can be captured), eager elsewhere.

    An engine that needs CUDA, batches of one shape and one process (registry.Engine.needs), asked for where
    one of those is missing, is a UserError.
    """
    single_gpu = device.type == "cuda" and graphable and processes == 1
    if name == "auto":
        return "graph" if single_gpu else "eager"
    needs, fix = ENGINES[name].needs, "use 'auto' or 'eager'"
    if needs and device.type != "cuda":
        raise UserError(f"params.yaml: {param} is '{name}' but training runs on {device.type}: {needs} need a CUDA "
                        f"GPU; {fix}")
    if needs and not graphable:
        raise UserError(f"params.yaml: {param} is '{name}' but this model reads batches of varying shape; {fix}")
    if needs and processes > 1:
        raise UserError(f"params.yaml: {param} is '{name}' but training runs in {processes} processes: {needs} "
                        f"train in one; {fix}")
    return name


def train_epoch(model: nn.Module, batches: Iterable[Batch], optimizer: Optimizer | None,
                criterion: Criterion, params: TrainingRun, epoch: int, shard: Shard = SINGLE) -> tuple[float, float]:
    """One eager pass over batches; returns mean training loss and accuracy. A non-finite loss stops it.

    On CPU each batch's loss is checked before its step; on a GPU once per epoch, so no step waits for the host.
    In a data-parallel job (model wrapped in DDP, batches sharded) the loss and accuracy are the whole job's.
    """
    model.train()
    # kept per batch and reduced once at the end: a handful of small ops per step is much of a batch-1 step on CPU
    losses, sizes, all_logits, all_labels = [], [], [], []
    count = len(batches) if hasattr(batches, "__len__") else None
    progress = tqdm(batches, desc=f"epoch {epoch}/{params.epochs}", leave=False, disable=None)
    forward = batch_step(model, optimizer, criterion, params, shard)
    for number, (*inputs, labels) in enumerate(progress, 1):
        logits, loss, step = forward(inputs, labels)
        if labels.device.type == "cpu" and not math.isfinite(loss.item()):
            raise diverged(params, f"loss is {loss.item()} at epoch {epoch}, batch {number} of {count}")
        step()
        losses.append(loss.detach())
        sizes.append(len(labels))
        all_logits.append(logits.detach())
        all_labels.append(labels)
    device = labels.device
    weighted_losses = torch.stack(losses) * torch.tensor(sizes, device=device)
    correct = (predicted_labels(torch.cat(all_logits)) == torch.cat(all_labels)).sum()
    weighted_losses, correct, total = (shard.sum(value) for value in (
        weighted_losses, correct, torch.tensor(sum(sizes), device=device)))
    return _epoch_result(weighted_losses, correct, int(total), params, epoch)


Step = Callable[[list[torch.Tensor], torch.Tensor], tuple[torch.Tensor, torch.Tensor, Callable[[], None]]]


def batch_step(model: nn.Module, optimizer: Optimizer | None, criterion: Criterion, params: TrainingRun,
               shard: Shard = SINGLE) -> Step:
    """How an eager epoch takes one batch: forward(inputs, labels) -> (logits, loss, step), step() the update.

    Plain SGD on a model with sparse gradients takes the model's own step; everything else autograd and the
    optimizer (DDP-scaled, clipped). The step benchmark times this very function.
    """
    by_hand = steps_by_hand(model, params)

    def forward(inputs: list[torch.Tensor], labels: torch.Tensor):
        if by_hand:
            logits, hand_step = model.sgd_forward(*inputs)
        else:
            with autocast(model, params.precision):
                logits = model(*inputs)
        rows = len(labels)
        # a process whose share of a short last batch is empty still joins DDP's gradient average, with zeros
        loss = criterion(logits.float(), labels) if rows else logits.sum() * 0.0

        def step() -> None:
            if by_hand:
                loss.backward()  # as far as the logits only
                hand_step(params.lr)
                return
            optimizer.zero_grad()
            shard.batch_loss(loss, rows).backward()
            if params.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip)
            optimizer.step()
        return logits, loss, step
    return forward


def steps_by_hand(model: nn.Module, params: TrainingRun) -> bool:
    """Whether eager steps use the model's own plain-SGD step (OneHotMLP.sgd_forward): sparse gradients, fp32."""
    return getattr(model, "sparse", False) and params.precision == "fp32"


def _epoch_result(weighted_losses: torch.Tensor, correct: torch.Tensor, total: int, params: TrainingRun,
                  epoch: int) -> tuple[float, float]:
    """Mean loss and accuracy from per-batch (loss x batch size); the first non-finite batch is a UserError."""
    bad = torch.nonzero(~torch.isfinite(weighted_losses)).flatten().tolist()
    if bad:
        raise diverged(params, f"loss is {weighted_losses[bad[0]].item()} at epoch {epoch}, batch {bad[0] + 1} "
                               f"of {len(weighted_losses)}")
    return weighted_losses.double().sum().item() / total, int(correct) / total


@dataclass
class Resident:
    """A training split held on its device, for steps of fixed shape.

    order() draws one epoch's row numbers on the device; logits(model, rows) gathers those rows and
    runs the model using only ops of fixed shape, so a CUDA graph can capture it.
    """

    labels: torch.Tensor
    order: Callable[[], torch.Tensor]
    logits: Callable[[nn.Module, torch.Tensor], torch.Tensor]


def resident_tensors(batches: TensorBatches, generator: torch.Generator) -> Resident:
    """TensorBatches as the graph engine reads them: rows gathered from the tensors on the device."""
    def logits(model: nn.Module, rows: torch.Tensor) -> torch.Tensor:
        return model(batches.inputs.index_select(0, rows))

    def order() -> torch.Tensor:
        return epoch_order(len(batches.labels), batches.shuffle, generator, batches.weights)

    return Resident(batches.labels, order, logits)


class _Step:
    """The static row buffer of one batch size and, once captured, its graph."""

    def __init__(self, size: int, device: torch.device):
        self.rows = torch.zeros(size, dtype=torch.int64, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None


class ResidentTrainer:
    """Epochs over a Resident split: each step gathers its rows on the device; with capture, it is a CUDA graph.

    The correct count and every batch's loss accumulate on the device; an epoch syncs with the host once.
    Without capture the same steps run eagerly (how the CPU tests check them).
    """

    def __init__(self, model: nn.Module, optimizer: Optimizer, criterion: Criterion, data: Resident,
                 params: TrainingRun, capture: bool):
        self.model, self.optimizer, self.criterion, self.data, self.params = model, optimizer, criterion, data, params
        device = data.labels.device
        self.count = len(data.labels)
        self.batches = -(-self.count // params.batch_size)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.batch_losses = torch.zeros(self.batches, device=device)
        self.batch_index = torch.zeros(1, dtype=torch.int64, device=device)
        sizes = {params.batch_size, self.count - (self.batches - 1) * params.batch_size}
        self.steps = {size: _Step(size, device) for size in sorted(sizes, reverse=True)}
        if capture:
            self._capture()

    def _step(self, rows: torch.Tensor) -> None:
        """Gather, forward, backward, optimizer step and bookkeeping, all on the device."""
        labels = self.data.labels.index_select(0, rows)
        with autocast(self.model, self.params.precision):
            logits = self.data.logits(self.model, rows)
        loss = self.criterion(logits.float(), labels)
        loss.backward()
        if self.params.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.params.grad_clip)
        self.optimizer.step()
        weighted = loss.detach() * len(rows)
        self.correct.add_((predicted_labels(logits.detach()) == labels).sum())
        self.batch_losses.index_copy_(0, self.batch_index, weighted.view(1))
        self.batch_index.add_(1)

    def _capture(self) -> None:
        """Warm up on a side stream, capture one graph per batch size, then undo the warm-up's updates."""
        saved = [p.detach().clone() for p in self.model.parameters()]
        self.model.train()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for step in self.steps.values():
                for _ in range(WARMUP_STEPS):
                    self.batch_index.zero_()  # a split of fewer batches than warm-up steps must not index past its end
                    self.optimizer.zero_grad()
                    self._step(step.rows)
        torch.cuda.current_stream().wait_stream(side)
        for step in self.steps.values():  # a pool each: the full and the last, shorter batch replay in any order
            self.batch_index.zero_()
            self.optimizer.zero_grad()  # the graph's backward then writes fresh gradients each replay
            step.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(step.graph):
                self._step(step.rows)
        with torch.no_grad():
            for parameter, value in zip(self.model.parameters(), saved, strict=True):
                parameter.copy_(value)
            for state in self.optimizer.state.values():  # zeroed state steps exactly like a fresh optimizer
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()

    def _batches(self, order: torch.Tensor) -> Iterator[_Step]:
        for start in range(0, self.count, self.params.batch_size):
            rows = order[start : start + self.params.batch_size]
            step = self.steps[len(rows)]
            step.rows.copy_(rows)
            yield step

    def epoch(self, epoch: int) -> tuple[float, float]:
        """One epoch in a fresh order; mean training loss and accuracy."""
        self.model.train()
        for accumulator in (self.correct, self.batch_losses, self.batch_index):
            accumulator.zero_()
        for step in self._batches(self.data.order()):
            if step.graph is not None:
                step.graph.replay()
            else:
                self.optimizer.zero_grad()
                self._step(step.rows)
        return _epoch_result(self.batch_losses, self.correct, self.count, self.params, epoch)


Epochs = Callable[[int], tuple[float, float]]  # an epoch's number -> its mean training loss and accuracy


def eager_epochs(model: nn.Module, train_batches, params: TrainingRun, criterion: Criterion, shard: Shard,
                 resident=None) -> Epochs:
    """The eager engine: train_epoch's Python step per batch, the model wrapped in DDP in a job of several processes."""
    trained = model if shard.world == 1 else DistributedDataParallel(model)
    # the model's own plain-SGD step needs no optimizer
    optimizer = None if steps_by_hand(trained, params) else make_optimizer(model, params)
    return lambda epoch: train_epoch(trained, train_batches, optimizer, criterion, params, epoch, shard)


def graph_epochs(model: nn.Module, train_batches, params: TrainingRun, criterion: Criterion, shard: Shard,
                 resident: Callable[[object, torch.Generator], Resident] | None = None) -> Epochs:
    """The graph engine: the training split held on the GPU (resident_tensors unless the track gives its own
    resident), each epoch's order drawn there, each step a captured CUDA graph."""
    optimizer = make_optimizer(model, params, capturable=True)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(params.seed)
    held = (resident or resident_tensors)(train_batches, generator)
    return ResidentTrainer(model, optimizer, criterion, held, params, True).epoch


def fit(model: nn.Module, train_batches, test_batches: Iterable[Batch], params: TrainingRun,
        train_criterion: Criterion, test_criterion: Criterion, engine: str = "eager", shard: Shard = SINGLE,
        resident: Callable[[object, torch.Generator], Resident] | None = None) -> Iterable[EpochResult]:
    """Train for params.epochs with the engine named (registry.ENGINES), yielding each epoch's train and test results.

    resident: how the graph engine holds the training split, if the batches are not TensorBatches. In a
    data-parallel job only the main process evaluates (test is None elsewhere), on the whole test split.
    """
    setup_start = time.perf_counter()
    with phase("train"):
        run_epoch = globals()[ENGINES[engine].builder](model, train_batches, params, train_criterion, shard, resident)
    setup_seconds = time.perf_counter() - setup_start
    for epoch in range(1, params.epochs + 1):
        start = time.perf_counter()
        mark_first("epoch")
        with phase("train"):
            train_loss, train_accuracy = run_epoch(epoch)  # returns after the epoch's one host sync
        seconds = time.perf_counter() - start
        test = evaluate(model, test_batches, test_criterion, params.precision) if shard.main else None
        require_finite(params, {"train": train_loss, **({"test": test.loss} if test else {})}, f"after epoch {epoch}")
        yield EpochResult(epoch, train_loss, train_accuracy, test, seconds, setup_seconds)
