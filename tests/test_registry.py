"""The registries: every variant they name is built, batched, validated and trained through them."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import write_idx_folder
from project import REPO, committed_params
from reprolab.core.params import Images, ImdbRun
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


def package_with(tmp_path, family: str, entry: str, module: str = "", code: str = "") -> dict:
    """A copy of the package with entry first in the registry's family (and code appended to module), as a README
    recipe has it; the environment that imports that copy (and the tests' helpers)."""
    shutil.copytree(REPO / "src/reprolab", tmp_path / "reprolab")
    registry = tmp_path / "reprolab/core/registry.py"
    registry.write_text(registry.read_text().replace(f"{family} = {{\n", f"{family} = {{\n    {entry},\n", 1))
    if module:
        (tmp_path / "reprolab" / module).write_text((tmp_path / "reprolab" / module).read_text() + code)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "tests")])}


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


def test_params_accept_exactly_the_registered_names():
    from typing import get_args

    assert ImdbRun.model_fields["model"].description == "one of embedding_bag, dense, embedding_mean"
    assert get_args(ImdbRun.model_fields["model"].annotation) == ("embedding_bag", "dense", "embedding_mean")
    assert Images.model_fields["strategies"].description == ("a non-empty list of distinct values from none, "
                                                             "weighted_sampler, class_weights, undersample")


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
from reprolab.core.params import load_params
from reprolab.imdb.sweeps import train_point
from reprolab.imdb.training import imdb_run
from test_models import NUM_FEATURES, random_bags
params = load_params("train_imdb", path=sys.argv[1]).train_imdb.model_copy(update={"batch_size": 16, "epochs": 1})
data = {"train": random_bags(64), "test": random_bags(32, seed=1)}
first, epochs = train_point(params, data, NUM_FEATURES, torch.device("cpu"), 32)
assert math.isfinite(epochs[-1].test.loss)
print(type(imdb_run(params, data, NUM_FEATURES, 32, torch.device("cpu")).model).__name__)
"""


def test_a_model_added_as_the_readme_says_is_accepted_and_trains(tmp_path):
    """The README's steps: a class in imdb/models.py and its entry in core/registry.py; params accept it, it trains."""
    env = package_with(tmp_path, "IMDB_MODELS", '"bag_max": ImdbModel(label="max-pooled word vectors", '
                       'builder="BagMax", inputs="bags")', "imdb/models.py", NEW_MODEL)
    params = committed_params().replace("  model: embedding_bag", "  model: bag_max", 1)
    (tmp_path / "params.yaml").write_text(params)
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
from reprolab.core.params import load_params
from reprolab.imdb.sweeps import point_params
params = load_params("sweeps", path=sys.argv[1]).sweeps
print(list(params.listed()), params.listed()["momentum"], point_params(params.base, "momentum", 0.9).momentum)
"""


def test_a_sweep_added_as_the_readme_says_is_read_checked_and_set(tmp_path):
    """The README's steps for a sweep of a sweeps.base key: its entry in core/registry.py and its values in params.yaml."""
    env = package_with(tmp_path, "SWEEPS", '"momentum": Sweep("SGD momentum", "momentum")')
    params = committed_params().replace("  points:", "  points:\n    momentum: [0.0, 0.9]", 1)
    (tmp_path / "params.yaml").write_text(params)
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


NEW_IMAGE_MODEL = '''

class TinyNet(nn.Module):
    """One linear layer over the pixels."""

    def __init__(self, hidden: int, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.out = nn.Linear(math.prod(image_shape), num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.out(images.flatten(1))
'''
TRAIN_IMAGES = """
import sys, torch
from reprolab.core.batches import TensorBatches
from reprolab.core.engines import fit
from reprolab.core.params import load_params
from reprolab.core.train import loss_function
from reprolab.images.models import data_shape, image_model
params = load_params("train_images", path=sys.argv[1]).train_images.model_copy(update={"batch_size": 8, "epochs": 1})
images, labels = torch.randn(32, 1, 12, 12), torch.arange(32) % 10  # not the course's 28x28: nothing assumes it
batches = TensorBatches(images, labels, 8, torch.device("cpu"))
model = image_model(params.model, params.hidden, **data_shape(images, [str(c) for c in range(10)]))
result = list(fit(model, batches, batches, params, loss_function("ce"), loss_function("ce")))[-1]
print(type(model).__name__, result.test.accuracy >= 0)
"""


def test_an_image_model_added_as_the_readme_says_is_accepted_and_trains(tmp_path):
    """The README's steps: a class in images/models.py and its entry in core/registry.py; params accept it, it trains."""
    env = package_with(tmp_path, "IMAGE_MODELS", '"tiny": ImageModel("one linear layer", "TinyNet")',
                       "images/models.py", NEW_IMAGE_MODEL)
    params = committed_params().replace("  model: cnn", "  model: tiny", 1)
    (tmp_path / "params.yaml").write_text(params)
    run = subprocess.run([sys.executable, "-c", TRAIN_IMAGES, str(tmp_path / "params.yaml")], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["TinyNet", "True"]
    (tmp_path / "params.yaml").write_text(params.replace("  model: tiny", "  model: tiny2", 1))
    run = subprocess.run([sys.executable, "-c", TRAIN_IMAGES, str(tmp_path / "params.yaml")], env=env,
                         capture_output=True, text=True)
    assert "train_images.model must be one of tiny, cnn, mlp, got 'tiny2'" in run.stderr


FETCH_DATASET = """
import sys
from reprolab.core.params import load_params
from reprolab.images.data import fetch_images
params = load_params("data", "images", path=sys.argv[1])
arrays = fetch_images(params.images.datasets[-1], params.data.kmnist, sys.argv[2])
print(params.images.datasets, tuple(arrays["train_images"].shape), arrays["classes"][0])
"""


def test_a_dataset_added_as_the_readme_says_is_checked_and_fetched(tmp_path):
    """The README's steps: an IMAGE_DATASETS entry in core/registry.py, and data.<name> and images.datasets in params."""
    env = package_with(tmp_path, "IMAGE_DATASETS", '"kmnist": ImageDataset("KMNIST")')
    md5 = write_idx_folder(tmp_path / "kmnist", compress=False)
    entry = (f"  kmnist:\n    sources: [{tmp_path / 'kmnist'}]\n    raw_md5: {json.dumps(md5)}\n"
             "    mean: 0.19\n    std: 0.35\n")
    params = committed_params().replace("data:\n", "data:\n" + entry, 1).replace("  datasets: [fashion_mnist]",
                                                                               "  datasets: [fashion_mnist, kmnist]", 1)
    (tmp_path / "params.yaml").write_text(params)
    command = [sys.executable, "-c", FETCH_DATASET, str(tmp_path / "params.yaml"), str(tmp_path / "kmnist.pt")]
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "('fashion_mnist', 'kmnist') (120, 28, 28) o"
    (tmp_path / "params.yaml").write_text(params.replace("    mean: 0.19\n", ""))
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    assert "missing data.kmnist.mean (expected a number >= 0)" in run.stderr


DRAW_BATCHES = """
import sys, torch
from reprolab.core.params import load_params
from reprolab.images.data import strategy_batches
params = load_params("images", path=sys.argv[1])
labels = torch.tensor([0] * 90 + [1] * 10)
batches, weights = strategy_batches(params.images.strategies[0], labels, labels, 10, torch.device("cpu"),
                                    torch.Generator().manual_seed(0), 0)
print(params.images.strategies[0], batches.weights is not None, [round(w, 3) for w in weights.tolist()[:2]])
"""


def test_a_strategy_added_as_the_readme_says_is_accepted_and_rebalances(tmp_path):
    """The README's steps: a STRATEGIES entry combining the registry's means, and its name in images.strategies."""
    env = package_with(tmp_path, "STRATEGIES", '"both": Strategy("sampler and weighted loss", sampler=True, '
                       'class_weights=True)')
    params = committed_params().replace("  strategies: [none, weighted_sampler, class_weights, undersample]",
                                        "  strategies: [both, none]", 1)
    (tmp_path / "params.yaml").write_text(params)
    run = subprocess.run([sys.executable, "-c", DRAW_BATCHES, str(tmp_path / "params.yaml")], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["both", "True", "[0.556,", "5.0]"]  # drawn evenly and weighted: both means at once
    (tmp_path / "params.yaml").write_text(params.replace("[both, none]", "[bothh, none]"))
    run = subprocess.run([sys.executable, "-c", DRAW_BATCHES, str(tmp_path / "params.yaml")], env=env,
                         capture_output=True, text=True)
    assert run.stderr.strip().splitlines()[-1].endswith(
        "images.strategies must be a non-empty list of distinct values from both, none, weighted_sampler, "
        "class_weights, undersample, got ['bothh', 'none']")


NEW_ENGINE = '''

def twice_epochs(model, train_batches, params, criterion, shard, resident=None):
    """Each epoch's batches twice over, eagerly."""
    eager = eager_epochs(model, train_batches, params, criterion, shard)

    def epochs(epoch):
        eager(epoch)
        print("twice", epoch)
        return eager(epoch)
    return epochs
'''
FIT_WITH_ENGINE = """
import sys, torch
from reprolab.core.engines import fit, resolve_engine
from reprolab.core.params import load_params
from reprolab.core.train import loss_function
from reprolab.imdb.batches import BagBatches
from reprolab.imdb.models import OneHotMLP
from test_models import NUM_FEATURES, random_bags
params = load_params("train_imdb", path=sys.argv[1]).train_imdb.model_copy(update={"epochs": 2, "batch_size": 16})
engine = resolve_engine(params.engine, torch.device("cpu"), True, "train_imdb.engine")
batches = BagBatches(random_bags(64), 16, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(0))
results = list(fit(OneHotMLP(NUM_FEATURES, 8), batches, batches, params, loss_function("bce"), loss_function("bce"),
                   engine))
print(engine, len(results))
"""


def test_an_engine_added_as_the_readme_says_is_accepted_and_trains(tmp_path):
    """The README's steps: a function in core/engines.py and its ENGINES entry; params accept it, fit() runs it."""
    env = package_with(tmp_path, "ENGINES", '"twice": Engine("each epoch twice", "twice_epochs")', "core/engines.py",
                       NEW_ENGINE)
    params = committed_params().replace("  engine: auto ", "  engine: twice ", 1)
    (tmp_path / "params.yaml").write_text(params)
    run = subprocess.run([sys.executable, "-c", FIT_WITH_ENGINE, str(tmp_path / "params.yaml")], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["twice", "1", "twice", "2", "twice", "2"]
