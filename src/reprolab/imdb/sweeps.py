"""Course 002's experiments: one training run per sweep point, several points at once on CPU, and what they found."""

import time

import numpy as np
import torch

from reprolab.core.device import device_info
from reprolab.core.engines import fit
from reprolab.core.parallel import cpu_workers
from reprolab.core.params import ImdbRun, Params
from reprolab.core.registry import SWEEPS, point_name
from reprolab.core.train import EpochResult, expected_initial_loss, initial_loss, perplexity
from reprolab.imdb.data import (CLASSES, SPLITS, Bags, build_vocab, data_report, encode_inputs, select_subset,
                                tokenize_reviews)
from reprolab.imdb.models import IMDB_MODELS
from reprolab.imdb.training import imdb_run


def point_params(base: ImdbRun, sweep: str, value) -> ImdbRun:
    """The base training params with the swept key set (sweeps that change the data leave them as they are)."""
    key = SWEEPS[sweep].key
    return base.model_copy(update={key: value}).named(base.section, **{key: f"sweeps.points.{sweep}"}) if key else base


def subset_bags(bags: dict[str, Bags], kind: str, size: int) -> dict[str, Bags]:
    """Course I.3: the first `size` reviews of each split, or size/2 of each class."""
    return {split: bags[split].select(select_subset(bags[split].labels, size, kind == "balanced", split)) for split in SPLITS}


def train_point(params: ImdbRun, bags: dict[str, Bags], num_features: int, device: torch.device,
                eval_batch_size: int, label: str = "") -> tuple[float, list[EpochResult]]:
    """Train the model params.model names on its encoded data; the initial loss and every epoch's results."""
    run = imdb_run(params, bags, num_features, eval_batch_size, device)
    first = initial_loss(run.model, run.train_in_order, run.criterion)
    epochs = []
    for result in fit(run.model, run.train_batches, run.test_batches, params, run.criterion, run.criterion, run.engine,
                      resident=run.resident):
        print(f"  {label}epoch {result.epoch}/{params.epochs}: train loss {result.train_loss:.4f}, test loss "
              f"{result.test.loss:.4f}, test accuracy {result.test.accuracy:.4f}, {result.seconds:.2f}s", flush=True)
        epochs.append(result)
    return first, epochs


def sweep_point(sweep: str, value, params: Params, device: torch.device, data) -> tuple[dict, dict]:
    """Train one point of a sweep: what it found (its metrics) and how long it took (its timings).

    data: the encoded reviews and their feature count, or for the tokenizer sweep the raw reviews.
    """
    train, extra = point_params(params.sweeps.base, sweep, value), {}
    if sweep == "tokenizer":
        corpus = tokenize_reviews(data, value)
        vocab = build_vocab(corpus, params.imdb.vocab_size)
        bags, num_features = encode_inputs(corpus, vocab, IMDB_MODELS[train.model].inputs)
        extra = {"data": data_report(corpus, vocab)["train"]}
    else:
        bags, num_features = data
        if sweep == "subset":
            bags = subset_bags(bags, value, params.sweeps.subset_size)
    start = time.perf_counter()
    first_loss, epochs = train_point(train, bags, num_features, device, params.evaluate_imdb.batch_size,
                                     label=f"{sweep} = {point_name(value)}: ")
    seconds = time.perf_counter() - start
    print(f"sweep {sweep} = {value}: test accuracy {epochs[-1].test.accuracy:.4f}, {seconds:.1f} s", flush=True)
    timing = {**device_info(device), "value": value, "train_seconds": round(seconds, 3),
              "engine_setup_seconds": round(epochs[0].setup_seconds, 3), "epoch_seconds": [round(r.seconds, 3) for r in epochs]}
    return {**point_metrics(sweep, value, first_loss, epochs, bags), **extra}, timing


PARALLEL_REVIEWS = 5_000  # fewer training reviews train a point faster than a worker process starts


def point_workers(device: torch.device, points: int, reviews: int) -> int:
    """How many points train at once: on CPU one per core, once the points are worth a process each; on a GPU one.

    On CPU the points' results do not depend on how many threads each gets (a test checks it).
    """
    if device.type == "cuda" or reviews < PARALLEL_REVIEWS:
        return 1
    return cpu_workers(points)


def point_metrics(sweep: str, value, first_loss: float, epochs: list[EpochResult], bags: dict[str, Bags]) -> dict:
    """What a sweep point found: final test numbers, initial loss, per-epoch curves, the data it saw."""
    last = epochs[-1].test
    return {
        "sweep": sweep, "value": value,
        "test_accuracy": last.accuracy, "test_loss": last.loss, "test_perplexity": last.perplexity,
        "initial_loss": first_loss, "expected_initial_loss": expected_initial_loss(len(CLASSES)),
        "reviews": {split: {"total": len(b), "positive": int(b.labels.sum())} for split, b in bags.items()},
        "epochs": [{"epoch": r.epoch, "train_loss": r.train_loss, "train_perplexity": perplexity(r.train_loss),
                    "train_accuracy": r.train_accuracy, "test_loss": r.test.loss,
                    "test_perplexity": r.test.perplexity, "test_accuracy": r.test.accuracy} for r in epochs],
    }


def turn_up_epoch(perplexities: list[float]) -> int | None:
    """The epoch where test perplexity turns up: the one after its minimum (1-based); None if the last is lowest."""
    best = int(np.argmin(perplexities))
    return best + 2 if best + 1 < len(perplexities) else None
