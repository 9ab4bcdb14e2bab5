"""Seed 002's experiments: one training run per sweep point, and the tables and figures that compare them."""

import math
from dataclasses import replace

import numpy as np
import torch

from reprolab.batches import imdb_batches
from reprolab.device import seed_everything
from reprolab.imdb import SPLITS, Bags, select_subset
from reprolab.models import imdb_config, imdb_model
from reprolab.params import TrainParams
from reprolab.registry import SWEEPS
from reprolab.engines import fit, imdb_graphable, resolve_engine
from reprolab.train import EpochResult, build_model, initial_loss, loss_function, require_batch_fits


def point_name(value) -> str:
    """A sweep point's file name: its value as params.yaml writes it (true/false for booleans)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def point_params(base: TrainParams, sweep: str, value) -> TrainParams:
    """The base training params with the swept key set (sweeps that change the data leave them as they are)."""
    key = SWEEPS[sweep].key
    return replace(base, **{key: value}) if key else base


def subset_bags(bags: dict[str, Bags], kind: str, size: int) -> dict[str, Bags]:
    """Seed I.3: the first `size` reviews of each split, or size/2 of each class."""
    return {split: bags[split].select(select_subset(bags[split].labels, size, kind == "balanced", split)) for split in SPLITS}


def train_point(params: TrainParams, bags: dict[str, Bags], num_features: int, device: torch.device,
                eval_batch_size: int) -> tuple[float, list[EpochResult]]:
    """Train the model params.model names on its encoded data; the initial loss and every epoch's results."""
    generator = seed_everything(params.seed, params.deterministic)
    require_batch_fits(params, len(bags["train"]), "training reviews")
    config = imdb_config(params, num_features)
    model = build_model(lambda: imdb_model(config), params, device, f"{params.section}.hidden and imdb.vocab_size")
    train_batches = imdb_batches(params.model, bags["train"], params.batch_size, device, params.shuffle, generator)
    test_batches = imdb_batches(params.model, bags["test"], eval_batch_size, device)
    criterion = loss_function(params.head)
    engine = resolve_engine(params.engine, device, imdb_graphable(params.model), f"{params.section}.engine")
    first = initial_loss(model, train_batches, criterion)
    epochs = []
    for result in fit(model, train_batches, test_batches, params, criterion, criterion, engine):
        print(f"  epoch {result.epoch}/{params.epochs}: train loss {result.train_loss:.4f}, test loss "
              f"{result.test.loss:.4f}, test accuracy {result.test.accuracy:.4f}, {result.seconds:.2f}s", flush=True)
        epochs.append(result)
    return first, epochs


def point_metrics(sweep: str, value, first_loss: float, epochs: list[EpochResult], bags: dict[str, Bags]) -> dict:
    """What a sweep point found: final test numbers, initial loss, per-epoch curves, the data it saw."""
    last = epochs[-1].test
    return {
        "sweep": sweep, "value": value,
        "test_accuracy": last.accuracy, "test_loss": last.loss, "test_perplexity": last.perplexity,
        "initial_loss": first_loss, "expected_initial_loss": math.log(2),
        "reviews": {split: {"total": len(b), "positive": int(b.labels.sum())} for split, b in bags.items()},
        "epochs": [{"epoch": r.epoch, "train_loss": r.train_loss, "train_perplexity": math.exp(r.train_loss),
                    "train_accuracy": r.train_accuracy, "test_loss": r.test.loss,
                    "test_perplexity": r.test.perplexity, "test_accuracy": r.test.accuracy} for r in epochs],
    }


def turn_up_epoch(perplexities: list[float]) -> int | None:
    """The epoch where test perplexity turns up: the one after its minimum (1-based); None if the last is lowest."""
    best = int(np.argmin(perplexities))
    return best + 2 if best + 1 < len(perplexities) else None
