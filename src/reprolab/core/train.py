"""Losses, evaluation, and the checks that make a failed run loud: divergence, sizes, memory."""

import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reprolab.core.clock import phase
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.errors import UserError
from reprolab.core.params import TrainingRun

Batch = tuple[torch.Tensor, ...]  # model inputs..., then integer labels
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_function(head: str, class_weights: torch.Tensor | None = None) -> Criterion:
    """Mean loss of logits against integer labels: BCE on 1 logit, (weighted) cross-entropy on several."""
    if head == "bce":
        bce = nn.BCEWithLogitsLoss()
        return lambda logits, labels: bce(logits.squeeze(1), labels.float())
    return nn.CrossEntropyLoss(weight=class_weights)


def predicted_labels(logits: torch.Tensor) -> torch.Tensor:
    """Class ids: logit > 0 for one output (sigmoid > 0.5), argmax for several."""
    return (logits.squeeze(1) > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(batch, classes) probabilities; one logit is read as P(class 1) of two classes."""
    if logits.shape[1] == 1:
        positive = torch.sigmoid(logits)
        return torch.cat([1 - positive, positive], 1)
    return torch.softmax(logits, 1)


def autocast(model: nn.Module, precision: str) -> AbstractContextManager:
    """bf16 autocast on the model's device when precision is bf16; a no-op context for fp32."""
    if precision != "bf16":
        return nullcontext()  # entering a disabled torch.autocast costs microseconds, a share of a batch-1 step on CPU
    device_type = next(model.parameters()).device.type
    # no weight-cast cache: a captured CUDA graph must not keep a cast made outside it
    return torch.autocast(device_type, dtype=torch.bfloat16, cache_enabled=False)


def perplexity(loss: float) -> float:
    """exp(loss), infinite where a float cannot hold it."""
    return math.exp(loss) if loss < 709 else math.inf


def expected_initial_loss(num_classes: int) -> float:
    """An untrained model's loss: its logits are near-equal (or its one logit near 0), so ln(classes)."""
    return math.log(num_classes)


def diverged(params: TrainingRun, what: str) -> UserError:
    """The one-line error for a run whose loss stopped being a number: where, and the params to look at."""
    return UserError(f"{params.section}: training diverged: {what}; lower {params.key('lr')} (now {params.lr:g}) "
                     f"or set {params.key('grad_clip')} (now {params.grad_clip:g}); nothing was written")


def require_finite(params: TrainingRun, losses: dict[str, float], when: str) -> None:
    """Stop the run when a loss, or the perplexity a metrics file would record for it, is not finite."""
    for name, loss in losses.items():
        if not math.isfinite(perplexity(loss)):
            overflow = " (its perplexity overflows)" if math.isfinite(loss) else ""
            raise diverged(params, f"{name} loss is {loss:.4g} {when}{overflow}")


def available_memory(device: torch.device) -> int | None:
    """Bytes free on the device: the GPU's free memory, or MemAvailable on Linux; None where unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
    return int(fields["MemAvailable"].split()[0]) * 1024 if "MemAvailable" in fields else None


def build_model(factory: Callable[[], nn.Module], params: TrainingRun, device: torch.device, knobs: str) -> nn.Module:
    """factory() on device, after checking that its weights, gradients and optimizer state fit in memory.

    knobs names the params that set the model's size, for the error line.
    """
    with torch.device("meta"):
        weights = sum(p.numel() for p in factory().parameters())
    optimizer_states = 2 if params.optimizer == "adam" else int(params.momentum > 0)
    needed = weights * 4 * (2 + optimizer_states)
    available = available_memory(device)
    if available is not None and needed > available:
        raise UserError(f"params.yaml: {knobs} make a model of {weights:,} weights, which with gradients and "
                        f"{params.optimizer} state need about {needed / 2**30:,.1f} GiB, more than the "
                        f"{available / 2**30:,.1f} GiB of {device.type} memory available; lower them")
    return factory().to(device)


def require_device_memory(nbytes: int, device: torch.device, what: str, param: str) -> None:
    """Data a GPU run holds on the GPU must fit in its free memory; say so, and what to set, before copying it."""
    available = available_memory(device) if device.type == "cuda" else None
    if available is not None and nbytes > 0.9 * available:
        raise UserError(f"params.yaml: {param} puts {what} on the GPU: {nbytes / 2**30:,.1f} GiB, more than the "
                        f"{available / 2**30:,.1f} GiB free there; set {param}: cpu, or train on less data")


def bags_bytes(splits: list, graph: bool) -> int:
    """GPU memory of Bags held as int64 tensors, plus (graph engine) the first split padded to its longest bag."""
    total = sum(8 * (len(b.ids) + len(b.offsets) + len(b.labels)) for b in splits)
    train = splits[0]
    return total + (8 * len(train.labels) * int(np.diff(train.offsets).max(initial=0)) if graph else 0)


def require_batch_fits(params: TrainingRun, count: int, what: str) -> None:
    """A batch size larger than the training split is a mistake; say so before training."""
    if params.batch_size > count:
        raise UserError(f"params.yaml: {params.key('batch_size')}={params.batch_size} is larger than the {count} "
                        f"{what}; lower it")


@dataclass
class Evaluation:
    """Mean loss and accuracy over a dataset, with every label, prediction and class probability."""

    loss: float
    accuracy: float
    labels: torch.Tensor
    predictions: torch.Tensor
    probabilities: torch.Tensor

    @property
    def perplexity(self) -> float:
        return perplexity(self.loss)


@torch.no_grad()
@phase("evaluate")
def evaluate(model: nn.Module, batches: Iterable[Batch], criterion: Criterion, precision: str = "fp32") -> Evaluation:
    """Loss, accuracy and predictions of model over batches, in eval mode (its mode given back); one host sync at the end."""
    was_training = model.training
    model.eval()
    weighted_losses, labels, logits = [], [], []
    for *inputs, batch_labels in batches:
        if not len(batch_labels):  # a process's empty share of a short last batch
            continue
        with autocast(model, precision):
            batch_logits = model(*inputs).float()
        weighted_losses.append(criterion(batch_logits, batch_labels).double() * len(batch_labels))
        labels.append(batch_labels)
        logits.append(batch_logits)
    model.train(was_training)
    labels, logits = torch.cat(labels), torch.cat(logits)
    predictions = predicted_labels(logits)
    return Evaluation(
        loss=torch.stack(weighted_losses).sum().item() / len(labels),
        accuracy=(labels == predictions).double().mean().item(),
        labels=labels.cpu(),
        predictions=predictions.cpu(),
        probabilities=class_probabilities(logits).cpu(),
    )


@dataclass(frozen=True)
class Run:
    """One training run as its track builds it: the model and the config that rebuilds it, batches, loss, engine.

    train_in_order is the training split as evaluation reads it (stored order, the evaluation batch size), for
    the initial loss: evaluating draws nothing from the training order's generator. criterion is the plain loss,
    reported on test; train_criterion (class-weighted, say) is what training minimises, criterion when None.
    """

    model: nn.Module
    config: dict
    train_batches: Iterable[Batch]
    train_in_order: Iterable[Batch]
    test_batches: Iterable[Batch]
    criterion: Criterion
    engine: str
    num_classes: int
    train_criterion: Criterion | None = None
    resident: Callable | None = None  # how the graph engine holds the training split, if not as TensorBatches


@dataclass
class EpochResult:
    """One epoch's science (losses, accuracies) and its wall time, kept apart. test is None off the main process.

    setup_seconds is the engine's one-off cost before the first epoch: the graph engine's warm-up and capture.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    test: Evaluation | None
    seconds: float = field(compare=False)
    setup_seconds: float = field(default=0.0, compare=False)


def initial_loss(model: nn.Module, batches: Iterable[Batch], criterion: Criterion, shard: Shard = SINGLE) -> float:
    """Course V.2.a: the untrained model's mean loss over the training set, about ln(classes).

    In a data-parallel job each process evaluates its share and the shares are averaged by size.
    """
    result = evaluate(model, batches, criterion)
    loss = shard.mean(result.loss, len(result.labels), next(model.parameters()).device)
    if not math.isfinite(loss):
        raise UserError(f"the untrained model's loss is {loss}: the input data or the model's size is broken")
    return loss
