"""The variant families, each said once: params validation, the stages, the sweeps and the report read these.

Torch-free, so that checking params.yaml costs no torch import. The IMDB models are declared beside their
classes in imdb_models.py and read from there by declared_imdb_models; batch types are named by their class
in reprolab.batches.
"""

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMDB_MODELS_FILE = Path(__file__).with_name("imdb_models.py")


@dataclass(frozen=True)
class ImdbModel:
    """A value of train_imdb.model: an entry of imdb_models.IMDB_MODELS."""

    label: str
    builder: str  # its class in imdb_models.py, called with num_features, hidden, head and the options
    inputs: str  # a key of INPUTS: the form of the reviews it reads
    options: dict[str, Any] = field(default_factory=dict)
    sparse_sgd: bool = False  # plain SGD may give its first layer sparse gradients


@functools.cache
def declared_imdb_models() -> dict[str, ImdbModel]:
    """imdb_models.IMDB_MODELS, read from its source without running it (so without torch).

    The stages that check the IMDB params (loaders load_imdb_params and load_sweep_params) read that file this way;
    tests/test_deps.py counts it among their deps, and tests/test_registry.py checks both readings agree.
    """
    tree = ast.parse(IMDB_MODELS_FILE.read_text(), str(IMDB_MODELS_FILE))
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and [getattr(target, "id", None) for target in node.targets] == ["IMDB_MODELS"])
    try:
        return {ast.literal_eval(name): ImdbModel(**{keyword.arg: ast.literal_eval(keyword.value) for keyword in entry.keywords})
                for name, entry in zip(table.keys, table.values, strict=True)}
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{IMDB_MODELS_FILE}: each IMDB_MODELS entry must be \"name\": ImdbModel(...) with literal "
                         f"keyword arguments ({err})") from None


@dataclass(frozen=True)
class Inputs:
    """A form of the encoded reviews."""

    label: str
    batches: str  # its batch class in reprolab.batches
    graphable: bool  # batches of one shape, so the graph engine can capture a step


INPUTS = {
    "bags": Inputs("each review's distinct word ids (its one-hot row)", "BagBatches", True),
    "sequences": Inputs("each review's token ids in reading order, <PAD>=0, <UNK>=1", "SequenceBatches", False),
}

STRATEGIES = {
    "none": "no rebalancing",
    "weighted_sampler": "inverse-frequency draws with replacement",
    "class_weights": "scikit-learn's balanced class weights in the loss",
    "undersample": "every class cut to the smallest",
}

ENGINES = {
    "eager": "one Python step per batch, on any device",
    "graph": "the training split held on the GPU, one CUDA graph per step",
}


@dataclass(frozen=True)
class Sweep:
    """A sweep of the course's experiments: what it changes and what its table shows beyond accuracy and perplexity."""

    label: str
    key: str | None  # the sweeps.base key it sets; None: it changes the data instead
    columns: dict[str, Callable[[dict], Any]] = field(default_factory=dict)  # header: point -> cell


SWEEPS = {
    "lr": Sweep("learning rate", "lr"),
    "batch_size": Sweep("batch size", "batch_size"),
    "shuffle": Sweep("shuffle", "shuffle"),
    "head": Sweep("head", "head", {"initial loss (ln 2 = 0.6931)": lambda point: point["initial_loss"]}),
    "tokenizer": Sweep("tokenizer", None, {
        "distinct OOV tokens": lambda point: point["data"]["distinct_oov_tokens"],
        "total OOV tokens": lambda point: point["data"]["total_oov_tokens"]}),
    "subset": Sweep("training / test subset", None, {
        "train positive / total": lambda point: _share(point, "train"),
        "test positive / total": lambda point: _share(point, "test")}),
}


def point_name(value) -> str:
    """A sweep point's file name: its value as params.yaml writes it (true/false for booleans)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _share(point: dict, split: str) -> str:
    reviews = point["reviews"][split]
    return f"{reviews['positive']} / {reviews['total']}"
