"""The registries: every variant they name is built, batched, validated and trained through them."""

import math

import pytest
import torch

from reprolab import batches, models
from reprolab.batches import imdb_batches
from reprolab.models import imdb_config, imdb_model
from reprolab.params import ImageLists, TrainParams
from reprolab.registry import IMDB_MODELS, INPUTS, STRATEGIES, SWEEPS
from reprolab.sweeps import point_params, train_point
from test_models import NUM_FEATURES, random_bags, train_params
from test_sequences import random_sequences


def data_for(model: str) -> dict:
    make = random_bags if IMDB_MODELS[model].inputs == "bags" else random_sequences
    return {"train": make(64), "test": make(32, seed=1)}


@pytest.mark.parametrize("model", sorted(IMDB_MODELS))
def test_every_imdb_model_builds_batches_and_trains_through_the_registry(model):
    """A sweep's base or train_imdb naming a model trains exactly that model on the data form it reads."""
    spec = IMDB_MODELS[model]
    params = train_params(model=model, optimizer="sgd", lr=0.1, epochs=1)
    assert isinstance(imdb_model(imdb_config(params, NUM_FEATURES)), getattr(models, spec.builder))
    data = data_for(model)
    assert isinstance(imdb_batches(model, data["train"], 16, torch.device("cpu")), getattr(batches, INPUTS[spec.inputs].batches))
    first, epochs = train_point(params, data, NUM_FEATURES, torch.device("cpu"), 32)
    assert math.isfinite(first) and math.isfinite(epochs[-1].test.loss)


def test_params_accept_exactly_the_registered_names():
    from typing import get_args, get_type_hints

    def choices(cls, name):
        return get_args(get_type_hints(cls, include_extras=True)[name])[1]

    assert choices(TrainParams, "model").expected == "one of " + ", ".join(IMDB_MODELS)
    assert choices(ImageLists, "strategies").expected.endswith(", ".join(STRATEGIES))


def test_sweeps_that_change_a_param_set_it_and_the_others_change_data():
    base = train_params(optimizer="sgd")
    for name, sweep in SWEEPS.items():
        changed = point_params(base, name, 7 if sweep.key in ("lr", "batch_size") else "x")
        assert (changed != base) == (sweep.key is not None), name
