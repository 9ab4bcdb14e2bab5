"""The registries: every variant they name is built, batched, validated and trained through them."""

import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from project import REPO, committed_params
from reprolab.core.params import ImageLists, TrainParams
from reprolab.core.registry import INPUTS, SWEEPS
from reprolab.imdb import batches
from reprolab.imdb import models as imdb_models
from reprolab.imdb.models import IMDB_MODELS, imdb_batches, imdb_config, imdb_model
from reprolab.imdb.sweeps import point_params, train_point
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
    assert isinstance(imdb_model(imdb_config(params, NUM_FEATURES)), getattr(imdb_models, spec.builder))
    data = data_for(model)
    assert isinstance(imdb_batches(model, data["train"], 16, torch.device("cpu")), getattr(batches, INPUTS[spec.inputs].batches))
    first, epochs = train_point(params, data, NUM_FEATURES, torch.device("cpu"), 32)
    assert math.isfinite(first) and math.isfinite(epochs[-1].test.loss)


def test_params_accept_exactly_the_registered_names(tmp_path):
    from typing import get_args, get_type_hints

    def choices(cls, name):
        return get_args(get_type_hints(cls, include_extras=True)[name])[1]

    assert choices(TrainParams, "model").complaint("nope") == "one of embedding_bag, dense, embedding_mean"
    assert all(choices(TrainParams, "model").complaint(name) is None for name in ("embedding_bag", "dense", "embedding_mean"))
    assert choices(ImageLists, "strategies").expected == ("a non-empty list of distinct values from none, weighted_sampler, "
                                                          "class_weights, undersample")


NEW_MODEL = '''

class BagMax(nn.Module):
    """Each review's word vectors max-pooled."""

    def __init__(self, num_features: int, hidden: int = 200, head: str = "bce"):
        super().__init__()
        self.embedding = nn.EmbeddingBag(num_features, hidden, mode="max")
        self.out = nn.Linear(hidden, HEAD_OUTPUTS[head])

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.embedding(ids, offsets)))
'''
TRAIN_IT = """
import math, sys, torch
from dataclasses import replace
from reprolab.core.params import load_imdb_params
from reprolab.imdb.sweeps import train_point
from test_models import NUM_FEATURES, random_bags
params = replace(load_imdb_params(sys.argv[1]).train, batch_size=16, epochs=1)
first, epochs = train_point(params, {"train": random_bags(64), "test": random_bags(32, seed=1)}, NUM_FEATURES,
                            torch.device("cpu"), 32)
assert math.isfinite(epochs[-1].test.loss)
print(type(train_point.__globals__["imdb_model"]({"model": params.model, "num_features": 9, "hidden": 4, "head": "bce"})).__name__)
"""


def test_a_model_added_as_the_readme_says_is_accepted_and_trains(tmp_path):
    """The README's steps: a class in imdb/models.py and its entry in core/registry.py; params accept it, it trains."""
    shutil.copytree(REPO / "src/reprolab", tmp_path / "reprolab")
    registry_file, module = tmp_path / "reprolab/core/registry.py", tmp_path / "reprolab/imdb/models.py"
    registry_file.write_text(registry_file.read_text().replace("IMDB_MODELS = {\n", "IMDB_MODELS = {\n    \"bag_max\": ImdbModel("
                                                               "label=\"max-pooled word vectors\", builder=\"BagMax\", "
                                                               "inputs=\"bags\"),\n"))
    module.write_text(module.read_text() + NEW_MODEL)
    params = committed_params().replace("  model: embedding_bag", "  model: bag_max", 1)
    (tmp_path / "params.yaml").write_text(params)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "tests")])}
    run = subprocess.run([sys.executable, "-c", TRAIN_IT, str(tmp_path / "params.yaml")], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-1] == "BagMax"
    (tmp_path / "params.yaml").write_text(params.replace("  model: bag_max", "  model: bag_mix", 1))
    run = subprocess.run([sys.executable, "-c", TRAIN_IT, str(tmp_path / "params.yaml")], env=env, capture_output=True,
                         text=True)
    assert "train_imdb.model must be one of bag_max, embedding_bag, dense, embedding_mean, got 'bag_mix'" in run.stderr


def test_sweeps_that_change_a_param_set_it_and_the_others_change_data():
    base = train_params(optimizer="sgd")
    for name, sweep in SWEEPS.items():
        changed = point_params(base, name, 7 if sweep.key in ("lr", "batch_size") else "x")
        assert (changed != base) == (sweep.key is not None), name


SWEEP_IT = """
import sys
from reprolab.core.params import load_sweep_params
from reprolab.imdb.sweeps import point_params
params = load_sweep_params(sys.argv[1])
print(list(params.values), params.values["momentum"], point_params(params.base, "momentum", 0.9).momentum)
"""


def test_a_sweep_added_as_the_readme_says_is_read_checked_and_set(tmp_path):
    """The README's steps for a sweep of a sweeps.base key: its entry in core/registry.py and its values in params.yaml."""
    shutil.copytree(REPO / "src/reprolab", tmp_path / "reprolab")
    registry_file = tmp_path / "reprolab/core/registry.py"
    registry_file.write_text(registry_file.read_text().replace("SWEEPS = {\n", "SWEEPS = {\n    \"momentum\": Sweep(\"SGD momentum\", "
                                                               "\"momentum\"),\n"))
    params = committed_params().replace("  points:", "  points:\n    momentum: [0.0, 0.9]", 1)
    (tmp_path / "params.yaml").write_text(params)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", SWEEP_IT, str(tmp_path / "params.yaml")], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("]")[0].startswith("['momentum', 'lr'")
    assert run.stdout.strip().endswith("(0.0, 0.9) 0.9")
    (tmp_path / "params.yaml").write_text(params.replace("momentum: [0.0, 0.9]", "momentum: [0.0, -1]"))
    run = subprocess.run([sys.executable, "-c", SWEEP_IT, str(tmp_path / "params.yaml")], env=env, capture_output=True,
                         text=True)
    assert run.stderr.strip().splitlines()[-1].endswith(
        "sweeps.points.momentum must be a non-empty list of distinct values, each a number >= 0, got [0.0, -1]")
