"""The training loop: initial-loss check, per-epoch train/test monitoring, clean timings."""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from reprolab.params import TrainParams

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def loss_function(head: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean loss of logits against integer labels: BCE on 1 logit, cross-entropy on 2."""
    if head == "bce":
        bce = nn.BCEWithLogitsLoss()
        return lambda logits, labels: bce(logits.squeeze(1), labels.float())
    return nn.CrossEntropyLoss()


def predicted_labels(logits: torch.Tensor) -> torch.Tensor:
    """Class ids: logit > 0 for one output (sigmoid > 0.5), argmax for several."""
    return (logits.squeeze(1) > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


def positive_probability(logits: torch.Tensor) -> torch.Tensor:
    """P(class 1) from either head."""
    return torch.sigmoid(logits.squeeze(1)) if logits.shape[1] == 1 else torch.softmax(logits, 1)[:, 1]


def make_optimizer(model: nn.Module, params: TrainParams) -> torch.optim.Optimizer:
    """SGD (with momentum and weight decay) or Adam (with weight decay); momentum is SGD's only."""
    if params.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay)
    # fused: one kernel per step instead of a dozen passes over the 4M first-layer weights
    return torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay, fused=True)


@dataclass
class Evaluation:
    """Mean loss and accuracy over a dataset, with every label and prediction."""

    loss: float
    accuracy: float
    labels: torch.Tensor
    predictions: torch.Tensor
    probabilities: torch.Tensor

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Batch], head: str) -> Evaluation:
    """Loss, accuracy and predictions of model over batches, in eval mode."""
    model.eval()
    criterion = loss_function(head)
    total_loss, labels, predictions, probabilities = 0.0, [], [], []
    for ids, offsets, batch_labels in batches:
        logits = model(ids, offsets).float()
        total_loss += criterion(logits, batch_labels).item() * len(batch_labels)
        labels.append(batch_labels.cpu())
        predictions.append(predicted_labels(logits).cpu())
        probabilities.append(positive_probability(logits).cpu())
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


def initial_loss(model: nn.Module, batches: Iterable[Batch], head: str) -> float:
    """Seed V.2.a: the untrained model's mean loss over the training set, about ln(classes)."""
    return evaluate(model, batches, head).loss


def train_epoch(model: nn.Module, batches: Iterable[Batch], optimizer: torch.optim.Optimizer,
                params: TrainParams, progress: str) -> tuple[float, float]:
    """One pass over batches; returns mean training loss and accuracy."""
    model.train()
    criterion = loss_function(params.head)
    weighted_losses, correct, total = [], 0, 0
    for ids, offsets, labels in tqdm(batches, desc=progress, leave=False, disable=None):
        logits = model(ids, offsets)
        loss = criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if params.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip)
        optimizer.step()
        weighted_losses.append(loss.detach() * len(labels))
        correct += (predicted_labels(logits.detach()) == labels).sum()
        total += len(labels)
    return torch.stack(weighted_losses).double().sum().item() / total, int(correct) / total


def fit(model: nn.Module, train_batches: Iterable[Batch], test_batches: Iterable[Batch],
        params: TrainParams) -> Iterable[EpochResult]:
    """Train for params.epochs, yielding each epoch's train and test results."""
    optimizer = make_optimizer(model, params)
    for epoch in range(1, params.epochs + 1):
        start = time.perf_counter()
        train_loss, train_accuracy = train_epoch(model, train_batches, optimizer, params, f"epoch {epoch}/{params.epochs}")
        seconds = time.perf_counter() - start
        yield EpochResult(epoch, train_loss, train_accuracy, evaluate(model, test_batches, params.head), seconds)
