"""The training loop: initial-loss check, per-epoch train/test monitoring, loud divergence, clean timings."""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from reprolab.errors import UserError
from reprolab.params import TrainingRun

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


def autocast(model: nn.Module, precision: str) -> torch.autocast:
    """bf16 autocast on the model's device when precision is bf16; a no-op context for fp32."""
    device_type = next(model.parameters()).device.type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def make_optimizer(model: nn.Module, params: TrainingRun) -> torch.optim.Optimizer:
    """SGD (with momentum and weight decay) or Adam (with weight decay); momentum is SGD's only."""
    if params.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay)
    # fused: one kernel per step instead of a dozen passes over the 4M first-layer weights
    return torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay, fused=True)


def perplexity(loss: float) -> float:
    """exp(loss), infinite where a float cannot hold it."""
    return math.exp(loss) if loss < 709 else math.inf


def diverged(params: TrainingRun, what: str) -> UserError:
    """The one-line error for a run whose loss stopped being a number: where, and the params to look at."""
    return UserError(f"{params.section}: training diverged: {what}; lower {params.section}.lr (now {params.lr:g}) "
                     f"or set {params.section}.grad_clip (now {params.grad_clip:g}); nothing was written")


def require_finite(params: TrainingRun, losses: dict[str, float], when: str) -> None:
    """Stop the run when a loss, or the perplexity a metrics file would record for it, is not finite."""
    for name, loss in losses.items():
        if not math.isfinite(perplexity(loss)):
            raise diverged(params, f"{name} loss is {loss:.4g} {when}" + (" (its perplexity overflows)" if math.isfinite(loss) else ""))


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


def require_batch_fits(params: TrainingRun, count: int, what: str) -> None:
    """A batch size larger than the training split is a mistake; say so before training."""
    if params.batch_size > count:
        raise UserError(f"params.yaml: {params.section}.batch_size={params.batch_size} is larger than the {count} "
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
def evaluate(model: nn.Module, batches: Iterable[Batch], criterion: Criterion, precision: str = "fp32") -> Evaluation:
    """Loss, accuracy and predictions of model over batches, in eval mode."""
    model.eval()
    total_loss, labels, predictions, probabilities = 0.0, [], [], []
    for *inputs, batch_labels in batches:
        with autocast(model, precision):
            logits = model(*inputs)
        logits = logits.float()
        total_loss += criterion(logits, batch_labels).item() * len(batch_labels)
        labels.append(batch_labels.cpu())
        predictions.append(predicted_labels(logits).cpu())
        probabilities.append(class_probabilities(logits).cpu())
    labels, predictions = torch.cat(labels), torch.cat(predictions)
    return Evaluation(
        loss=total_loss / len(labels),
        accuracy=(labels == predictions).float().mean().item(),
        labels=labels,
        predictions=predictions,
        probabilities=torch.cat(probabilities),
    )


@dataclass
class EpochResult:
    """One epoch's science (losses, accuracies) and its wall time, kept apart."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test: Evaluation
    seconds: float = field(compare=False)


def initial_loss(model: nn.Module, batches: Iterable[Batch], criterion: Criterion) -> float:
    """Seed V.2.a: the untrained model's mean loss over the training set, about ln(classes)."""
    loss = evaluate(model, batches, criterion).loss
    if not math.isfinite(loss):
        raise UserError(f"the untrained model's loss is {loss}: the input data or the model's size is broken")
    return loss


def train_epoch(model: nn.Module, batches: Iterable[Batch], optimizer: torch.optim.Optimizer,
                criterion: Criterion, params: TrainingRun, epoch: int) -> tuple[float, float]:
    """One pass over batches; returns mean training loss and accuracy. A non-finite loss stops it.

    On CPU each batch's loss is checked before its step; on a GPU once per epoch, so no step waits for the host.
    """
    model.train()
    weighted_losses, correct, total = [], 0, 0
    count = len(batches) if hasattr(batches, "__len__") else None
    progress = tqdm(batches, desc=f"epoch {epoch}/{params.epochs}", leave=False, disable=None)
    for number, (*inputs, labels) in enumerate(progress, 1):
        with autocast(model, params.precision):
            logits = model(*inputs)
        loss = criterion(logits.float(), labels)
        if labels.device.type == "cpu" and not math.isfinite(loss.item()):
            raise diverged(params, f"loss is {loss.item()} at epoch {epoch}, batch {number} of {count}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if params.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip)
        optimizer.step()
        weighted_losses.append(loss.detach() * len(labels))
        correct += (predicted_labels(logits.detach()) == labels).sum()
        total += len(labels)
    losses = torch.stack(weighted_losses)
    bad = torch.nonzero(~torch.isfinite(losses)).flatten().tolist()
    if bad:
        raise diverged(params, f"loss is {losses[bad[0]].item()} at epoch {epoch}, batch {bad[0] + 1} of {count}")
    return losses.double().sum().item() / total, int(correct) / total


def fit(model: nn.Module, train_batches: Iterable[Batch], test_batches: Iterable[Batch],
        params: TrainingRun, train_criterion: Criterion,
        test_criterion: Criterion) -> Iterable[EpochResult]:
    """Train for params.epochs, yielding each epoch's train and test results."""
    optimizer = make_optimizer(model, params)
    for epoch in range(1, params.epochs + 1):
        start = time.perf_counter()
        train_loss, train_accuracy = train_epoch(model, train_batches, optimizer, train_criterion, params, epoch)
        seconds = time.perf_counter() - start
        test = evaluate(model, test_batches, test_criterion, params.precision)
        require_finite(params, {"train": train_loss, "test": test.loss}, f"after epoch {epoch}")
        yield EpochResult(epoch, train_loss, train_accuracy, test, seconds)
