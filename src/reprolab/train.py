"""The training loop: initial-loss check, per-epoch train/test monitoring, clean timings."""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

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
        return math.exp(self.loss)


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
    return evaluate(model, batches, criterion).loss


def train_epoch(model: nn.Module, batches: Iterable[Batch], optimizer: torch.optim.Optimizer,
                criterion: Criterion, grad_clip: float, progress: str, precision: str = "fp32") -> tuple[float, float]:
    """One pass over batches; returns mean training loss and accuracy."""
    model.train()
    weighted_losses, correct, total = [], 0, 0
    for *inputs, labels in tqdm(batches, desc=progress, leave=False, disable=None):
        with autocast(model, precision):
            logits = model(*inputs)
        loss = criterion(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        weighted_losses.append(loss.detach() * len(labels))
        correct += (predicted_labels(logits.detach()) == labels).sum()
        total += len(labels)
    return torch.stack(weighted_losses).double().sum().item() / total, int(correct) / total


def fit(model: nn.Module, train_batches: Iterable[Batch], test_batches: Iterable[Batch],
        params: TrainingRun, train_criterion: Criterion,
        test_criterion: Criterion) -> Iterable[EpochResult]:
    """Train for params.epochs, yielding each epoch's train and test results."""
    optimizer = make_optimizer(model, params)
    for epoch in range(1, params.epochs + 1):
        start = time.perf_counter()
        train_loss, train_accuracy = train_epoch(model, train_batches, optimizer, train_criterion, params.grad_clip,
                                                 f"epoch {epoch}/{params.epochs}", params.precision)
        seconds = time.perf_counter() - start
        test = evaluate(model, test_batches, test_criterion, params.precision)
        yield EpochResult(epoch, train_loss, train_accuracy, test, seconds)
