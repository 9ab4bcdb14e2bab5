"""The variant families, each said once: params validation, the stages, the sweeps and the report read these.

Torch-free, so that checking params.yaml costs no torch import: builders and batch types are named by their
class (in reprolab.imdb.models and reprolab.imdb.batches) and resolved there, when a model is built.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImdbModel:
    """A value of train_imdb.model and sweeps.base.model."""

    label: str
    builder: str  # its class in reprolab.imdb.models, called with num_features, hidden, head and the options
    inputs: str  # a key of INPUTS: the form of the reviews it reads
    options: dict[str, Any] = field(default_factory=dict)
    sparse_sgd: bool = False  # plain SGD may give its first layer sparse gradients


IMDB_MODELS = {
    "embedding_bag": ImdbModel(label="one-hot MLP, first layer as a summed EmbeddingBag (the fast path)",
                               builder="OneHotMLP", inputs="bags", options={"mode": "embedding_bag"}, sparse_sgd=True),
    "dense": ImdbModel(label="one-hot MLP as one_hot @ W + b (the course's computation)", builder="OneHotMLP",
                       inputs="bags", options={"mode": "dense"}),
    "embedding_mean": ImdbModel(label="nn.Embedding averaged over each review's tokens", builder="EmbeddingMean",
                                inputs="sequences"),
}


@dataclass(frozen=True)
class Inputs:
    """A form of the encoded reviews."""

    label: str
    batches: str  # its batch class in reprolab.imdb.batches
    graphable: bool  # batches of one shape, so the graph engine can capture a step


INPUTS = {
    "bags": Inputs("each review's distinct word ids (its one-hot row)", "BagBatches", True),
    "sequences": Inputs("each review's token ids in reading order, <PAD>=0, <UNK>=1", "SequenceBatches", False),
}

@dataclass(frozen=True)
class ImageModel:
    """A value of train_images.model."""

    label: str
    builder: str  # its class in reprolab.images.models, called with hidden, image_shape and num_classes


IMAGE_MODELS = {
    "cnn": ImageModel("the course's SimpleCNN: conv 5x5, ReLU, max-pool, dropout, linear", "SimpleCNN"),
    "mlp": ImageModel("the course's MLP: pixels -> hidden -> ReLU -> classes", "ImageMLP"),
}

@dataclass(frozen=True)
class ImageDataset:
    """A value of images.datasets; params.yaml's data.<name> says where its IDX files may be had."""

    torchvision: str  # its class in torchvision.datasets: the mirrors, md5s and class names of its files
    size: tuple[int, int] = (28, 28)  # every image's height and width, checked when its files are read


IMAGE_DATASETS = {
    "mnist": ImageDataset("MNIST"),
    "fashion_mnist": ImageDataset("FashionMNIST"),
}
# Every image dataset has ten classes, in four IDX files: train then test, images then labels.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NUM_IMAGE_CLASSES = 10


@dataclass(frozen=True)
class Strategy:
    """A value of images.strategies: how it rebalances the imbalanced training split, by any of three means."""

    label: str
    undersample: bool = False  # train on every class cut to the smallest
    sampler: bool = False  # draw each batch with replacement, each class equally likely (WeightedRandomSampler)
    class_weights: bool = False  # weight the loss by scikit-learn's balanced class weights


STRATEGIES = {
    "none": Strategy("no rebalancing"),
    "weighted_sampler": Strategy("inverse-frequency draws with replacement", sampler=True),
    "class_weights": Strategy("scikit-learn's balanced class weights in the loss", class_weights=True),
    "undersample": Strategy("every class cut to the smallest", undersample=True),
}

@dataclass(frozen=True)
class Engine:
    """A value of train_imdb.engine and train_images.engine (besides auto: graph where it can run, else eager)."""

    label: str
    builder: str  # its function in reprolab.core.engines: (model, train batches, params, loss, shard, resident)
    # -> a function from an epoch number to that epoch's training loss and accuracy
    needs: str = ""  # why it runs only on CUDA, on batches of one shape and in one process; "" if it runs anywhere


ENGINES = {
    "eager": Engine("one Python step per batch, on any device, in DDP under torchrun", "eager_epochs"),
    "graph": Engine("the training split held on the GPU, one CUDA graph per step", "graph_epochs",
                    needs="CUDA graphs"),
}


TOKENIZERS = {
    "split": "the course's str.split",
    "normalized": "lowercased, <br /> and punctuation stripped (the course's II.4)",
}

SUBSETS = {
    "first": "the first n reviews of each split",
    "balanced": "n/2 reviews of each class",
}


@dataclass(frozen=True)
class Sweep:
    """A sweep of the course's experiments: what it changes and what its table shows beyond accuracy and perplexity.

    Its values are listed in params.yaml's sweeps.points; dvc.yaml runs one stage per listed sweep.
    """

    label: str
    key: str | None  # the sweeps.base key it sets, whose check its values pass; None: it changes the data instead
    columns: dict[str, Callable[[dict], Any]] = field(default_factory=dict)  # header: point -> cell
    choices: tuple[str, ...] = ()  # a data sweep's values


SWEEPS = {
    "lr": Sweep("learning rate", "lr"),
    "batch_size": Sweep("batch size", "batch_size"),
    "shuffle": Sweep("shuffle", "shuffle"),
    "head": Sweep("head", "head", {"initial loss (ln 2 = 0.6931)": lambda point: point["initial_loss"]}),
    "tokenizer": Sweep("tokenizer", None, {
        "distinct OOV tokens": lambda point: point["data"]["distinct_oov_tokens"],
        "total OOV tokens": lambda point: point["data"]["total_oov_tokens"]}, tuple(TOKENIZERS)),
    "subset": Sweep("training / test subset", None, {
        "train positive / total": lambda point: _share(point, "train"),
        "test positive / total": lambda point: _share(point, "test")}, tuple(SUBSETS)),
}


def point_name(value) -> str:
    """A sweep point's file name: its value as params.yaml writes it (true/false for booleans)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _share(point: dict, split: str) -> str:
    reviews = point["reviews"][split]
    return f"{reviews['positive']} / {reviews['total']}"
