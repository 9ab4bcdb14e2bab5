"""The registries: every variant they name is built, batched, validated and trained through them."""

import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from project import REPO, committed_params
from reprolab import batches, imdb_models, registry
from reprolab.imdb_models import IMDB_MODELS, imdb_batches, imdb_config, imdb_model
from reprolab.params import ImageLists, TrainParams
from reprolab.registry import INPUTS, STRATEGIES, SWEEPS, declared_imdb_models
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
    assert isinstance(imdb_model(imdb_config(params, NUM_FEATURES)), getattr(imdb_models, spec.builder))
    data = data_for(model)
    assert isinstance(imdb_batches(model, data["train"], 16, torch.device("cpu")), getattr(batches, INPUTS[spec.inputs].batches))
    first, epochs = train_point(params, data, NUM_FEATURES, torch.device("cpu"), 32)
    assert math.isfinite(first) and math.isfinite(epochs[-1].test.loss)


def test_the_torch_free_reading_of_the_models_is_the_module_itself():
    assert declared_imdb_models() == IMDB_MODELS


def test_an_entry_the_torch_free_reader_cannot_read_says_what_it_must_be(tmp_path, monkeypatch):
    module = tmp_path / "imdb_models.py"
    module.write_text("WIDTH = 3\nIMDB_MODELS = {\"wide\": ImdbModel(label=\"w\", builder=\"OneHotMLP\", inputs=\"bags\", "
                      "options={\"hidden\": WIDTH})}\n")
    monkeypatch.setattr(registry, "IMDB_MODELS_FILE", module)
    declared_imdb_models.cache_clear()
    try:
        with pytest.raises(ValueError, match="imdb_models.py: each IMDB_MODELS entry must be \"name\": ImdbModel\\(...\\) "
                                             "with literal keyword arguments"):
            declared_imdb_models()
    finally:
        declared_imdb_models.cache_clear()


def test_params_accept_exactly_the_registered_names(tmp_path):
    from typing import get_args, get_type_hints

    def choices(cls, name):
        return get_args(get_type_hints(cls, include_extras=True)[name])[1]

    assert choices(TrainParams, "model").complaint("nope") == "one of " + ", ".join(IMDB_MODELS)
    assert all(choices(TrainParams, "model").complaint(name) is None for name in IMDB_MODELS)
    assert choices(ImageLists, "strategies").expected.endswith(", ".join(STRATEGIES))


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
from reprolab.params import load_imdb_params
from reprolab.sweeps import train_point
from test_models import NUM_FEATURES, random_bags
params = replace(load_imdb_params(sys.argv[1]).train, batch_size=16, epochs=1)
first, epochs = train_point(params, {"train": random_bags(64), "test": random_bags(32, seed=1)}, NUM_FEATURES,
                            torch.device("cpu"), 32)
assert math.isfinite(epochs[-1].test.loss)
print(type(train_point.__globals__["imdb_model"]({"model": params.model, "num_features": 9, "hidden": 4, "head": "bce"})).__name__)
"""


def test_a_model_added_in_its_module_alone_is_accepted_and_trains(tmp_path):
    """The README's steps: a class and an entry in imdb_models.py, nothing else; params accept it and it trains."""
    shutil.copytree(REPO / "src/reprolab", tmp_path / "reprolab")
    module = tmp_path / "reprolab/imdb_models.py"
    module.write_text(module.read_text().replace("IMDB_MODELS = {\n", "IMDB_MODELS = {\n    \"bag_max\": ImdbModel(label=\"max-"
                                                 "pooled word vectors\", builder=\"BagMax\", inputs=\"bags\"),\n")
                      + NEW_MODEL)
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
