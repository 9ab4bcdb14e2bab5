"""The variant families, each said once: params validation, the stages, the sweeps and the report read these.

Torch-free, so that checking params.yaml costs no torch import. Builders and batch types are named
by their class in reprolab.models and reprolab.batches.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImdbModel:
    """A value of train_imdb.model."""

    label: str
    builder: str  # its class in reprolab.models, called with num_features, hidden, head and the options
    inputs: str  # a key of INPUTS: the form of the reviews it reads
    options: dict[str, Any] = field(default_factory=dict)
    sparse_sgd: bool = False  # plain SGD may give its first layer sparse gradients


IMDB_MODELS = {
    "embedding_bag": ImdbModel("one-hot MLP, first layer as a summed EmbeddingBag (the fast path)", "OneHotMLP", "bags",
                               {"mode": "embedding_bag"}, sparse_sgd=True),
    "dense": ImdbModel("one-hot MLP as one_hot @ W + b (the course's computation)", "OneHotMLP", "bags",
                       {"mode": "dense"}),
    "embedding_mean": ImdbModel("nn.Embedding averaged over each review's tokens", "EmbeddingMean", "sequences"),
}


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
    columns: dict[str, Callable[[dict, dict], Any]] = field(default_factory=dict)  # header: (point, timing) -> cell


SWEEPS = {
    "lr": Sweep("learning rate", "lr"),
    "batch_size": Sweep("batch size", "batch_size",
                        {"train seconds": lambda point, timing: f"{timing['train_seconds']:.1f}"}),
    "shuffle": Sweep("shuffle", "shuffle"),
    "head": Sweep("head", "head", {"initial loss (ln 2 = 0.6931)": lambda point, timing: point["initial_loss"]}),
    "tokenizer": Sweep("tokenizer", None, {
        "distinct OOV tokens": lambda point, timing: point["data"]["distinct_oov_tokens"],
        "total OOV tokens": lambda point, timing: point["data"]["total_oov_tokens"]}),
    "subset": Sweep("training / test subset", None, {
        "train positive / total": lambda point, timing: _share(point, "train"),
        "test positive / total": lambda point, timing: _share(point, "test")}),
}


def _share(point: dict, split: str) -> str:
    reviews = point["reviews"][split]
    return f"{reviews['positive']} / {reviews['total']}"
