"""The IMDB models: the classes that registry.IMDB_MODELS names, built from a checkpoint's config.

To add a model: write its class here, taking num_features, hidden and head (and any options), and give it an
entry in registry.IMDB_MODELS, which names the class (torch-free, so checking params costs no torch import).
"""

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.params import ImdbRun
from reprolab.core.registry import IMDB_MODELS, INPUTS
from reprolab.imdb import batches
from reprolab.imdb.data import PAD, Bags

HEAD_OUTPUTS = {"bce": 1, "ce": 2}


class OneHotMLP(nn.Module):
    """num_features -> hidden -> ReLU -> 1 logit (bce) or 2 logits (ce).

    The first layer's weight is stored as (num_features, hidden), so `one_hot @ weight + bias`
    (mode "dense", the course's computation) and a summed EmbeddingBag over the review's word
    ids (mode "embedding_bag") use the same parameters and give the same result. With sparse,
    the first layer's gradient holds only the rows of the batch's distinct words (plain SGD can use it).
    """

    def __init__(self, num_features: int, hidden: int = 200, head: str = "bce", mode: str = "embedding_bag",
                 sparse: bool = False):
        super().__init__()
        self.num_features, self.mode, self.sparse = num_features, mode, sparse
        self.first_weight = nn.Parameter(torch.empty(num_features, hidden))
        self.first_bias = nn.Parameter(torch.empty(hidden))
        self.out = nn.Linear(hidden, HEAD_OUTPUTS[head])
        bound = 1 / math.sqrt(num_features)  # nn.Linear(num_features, hidden)'s default init
        nn.init.uniform_(self.first_weight, -bound, bound)
        nn.init.uniform_(self.first_bias, -bound, bound)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, outputs) for bags given as flat ids and start offsets."""
        if self.mode == "dense":
            return self.forward_dense(one_hot_rows(ids, offsets, self.num_features))
        bag_sum = SparseBagSum.apply if self.sparse else dense_bag_sum
        return self.out(torch.relu(bag_sum(ids, offsets, self.first_weight) + self.first_bias))

    def forward_dense(self, one_hot: torch.Tensor) -> torch.Tensor:
        """Logits for dense one-hot rows (batch, num_features): the course's computation."""
        return self.out(torch.relu(one_hot @ self.first_weight + self.first_bias))

    @torch.no_grad()
    def sgd_forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, Callable[[float], None]]:
        """For plain SGD (sparse): logits as a leaf that takes the loss's gradient, and the step that uses it.

        The step backpropagates by hand and updates the weights in place: the same ops, so the same bits, as
        autograd and torch.optim.SGD, without their per-op bookkeeping (benchmarks/sgd_step.py measures the two).
        """
        hidden = F.embedding_bag(ids, self.first_weight, offsets, mode="sum") + self.first_bias
        activations = torch.relu(hidden)
        logits = self.out(activations).requires_grad_()

        @torch.no_grad()
        def step(lr: float) -> None:
            grad = logits.grad
            grad_hidden = grad.mm(self.out.weight).masked_fill_(activations <= 0, 0)  # ReLU's backward
            distinct, holders, holder_offsets = transpose_bags(ids, offsets, self.num_features)
            rows = F.embedding_bag(holders, grad_hidden, holder_offsets, mode="sum")
            # the sparse add torch.optim.SGD makes: index_add_ gives the same bits but is slower (benchmarks/README.md)
            self.first_weight.add_(torch.sparse_coo_tensor(distinct.unsqueeze(0), rows, self.first_weight.shape,
                                                           is_coalesced=True, check_invariants=False), alpha=-lr)
            self.first_bias.add_(grad_hidden.sum(0), alpha=-lr)
            self.out.weight.add_(grad.t().mm(activations), alpha=-lr)
            self.out.bias.add_(grad.sum(0), alpha=-lr)

        return logits, step


def dense_bag_sum(ids: torch.Tensor, offsets: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Each bag's sum of weight rows; the weight's gradient is dense."""
    return F.embedding_bag(ids, weight, offsets, mode="sum")


class SparseBagSum(torch.autograd.Function):
    """Each bag's sum of weight rows; the weight's gradient is a coalesced sparse tensor, one row per distinct id.

    EmbeddingBag(sparse=True) gives one gradient row per (id, bag) pair, about 3.5x more rows than
    a batch of reviews has distinct words; on CPU, making and adding those rows was most of an SGD
    step. Here the gradient is itself a bag sum over the transposed batch: each distinct id's bag
    holds the bags that contain it.
    """

    @staticmethod
    def forward(ctx, ids: torch.Tensor, offsets: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(ids, offsets)
        ctx.weight_shape = weight.shape
        # detached, embedding_bag skips the bookkeeping its own backward would need
        return F.embedding_bag(ids, weight.detach(), offsets, mode="sum")

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        ids, offsets = ctx.saved_tensors
        distinct, bags, bag_offsets = transpose_bags(ids, offsets, ctx.weight_shape[0])
        rows = F.embedding_bag(bags, grad_output.contiguous(), bag_offsets, mode="sum")
        grad = torch.sparse_coo_tensor(distinct.unsqueeze(0), rows, ctx.weight_shape, is_coalesced=True,
                                       check_invariants=False)
        return None, None, grad


def transpose_bags(ids: torch.Tensor, offsets: torch.Tensor, num_ids: int) -> tuple[torch.Tensor, ...]:
    """The distinct ids (ascending) and, per id, the bags holding it: flat bag numbers and their offsets."""
    if ids.device.type == "cpu" and num_ids <= 2**16:
        # numpy sorts 16-bit keys by radix, faster than torch's CPU sort, and its small ops cost less
        return tuple(torch.from_numpy(a) for a in transpose_bags_numpy(ids.numpy(), offsets.numpy()))
    order = torch.argsort(ids, stable=True)
    distinct, counts = torch.unique_consecutive(ids[order], return_counts=True)
    return distinct, bag_numbers(ids, offsets)[order], torch.cumsum(counts, 0) - counts


def transpose_bags_numpy(ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, ...]:
    """transpose_bags for int64 arrays of ids below 2**16."""
    if len(offsets) == 1 and (ids[1:] > ids[:-1]).all():  # one bag of ascending ids, as Bags stores it: no sort
        return ids, np.zeros_like(ids), np.arange(len(ids))
    bag_of_each = np.repeat(np.arange(len(offsets)), np.diff(offsets, append=len(ids)))
    order = np.argsort(ids.astype(np.uint16), kind="stable")
    sorted_ids = ids[order]
    firsts = np.flatnonzero(np.concatenate([[len(ids) > 0], sorted_ids[1:] != sorted_ids[:-1]]))
    return sorted_ids[firsts], bag_of_each[order], firsts


def sparse_gradients_allowed(optimizer: str, momentum: float, weight_decay: float, grad_clip: float) -> bool:
    """Plain SGD applies a sparse gradient exactly; momentum, weight decay, Adam and clipping need dense ones."""
    return optimizer == "sgd" and momentum == 0 and weight_decay == 0 and grad_clip == 0


def one_hot_rows(ids: torch.Tensor, offsets: torch.Tensor, num_features: int) -> torch.Tensor:
    """Dense float one-hot rows (batch, num_features) from bags of distinct ids."""
    dense = torch.zeros(len(offsets), num_features, device=ids.device)
    dense[bag_numbers(ids, offsets), ids] = 1.0
    return dense


def bag_numbers(ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """For each of the flat ids, the number of the bag it belongs to."""
    lengths = torch.diff(offsets, append=offsets.new_tensor([len(ids)]))
    return torch.repeat_interleave(torch.arange(len(offsets), device=ids.device), lengths)


class EmbeddingMean(nn.Module):
    """Course 003: nn.Embedding (row <PAD> = 0 stays zero) -> mean over each review's tokens -> 1 or 2 logits.

    num_features embeddings (the vocabulary, <PAD> and <UNK>) of size hidden.
    """

    def __init__(self, num_features: int, hidden: int = 200, head: str = "bce"):
        super().__init__()
        self.embedding = nn.Embedding(num_features, hidden, padding_idx=PAD)
        self.out = nn.Linear(hidden, HEAD_OUTPUTS[head])

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits for padded ids (batch, longest) and true lengths; padding adds zero vectors, so the mean is masked."""
        summed = self.embedding(ids).sum(1)
        return self.out(summed / lengths.clamp(min=1).unsqueeze(1).to(summed.dtype))


def imdb_config(params: ImdbRun, num_features: int, processes: int = 1) -> dict:
    """The constructor arguments of the IMDB model a training section names; checkpoints store them.

    DistributedDataParallel averages dense gradients only, so a job of several processes gets those.
    """
    config = {"model": params.model, "num_features": num_features, "hidden": params.hidden, "head": params.head}
    if IMDB_MODELS[params.model].sparse_sgd:
        config["sparse"] = processes == 1 and sparse_gradients_allowed(params.optimizer, params.momentum,
                                                                       params.weight_decay, params.grad_clip)
    return config


def imdb_model(config: dict) -> nn.Module:
    """The IMDB model a config from imdb_config describes: the class and options its IMDB_MODELS entry gives."""
    spec = IMDB_MODELS[config["model"]]
    arguments = {key: value for key, value in config.items() if key != "model"}
    return globals()[spec.builder](**arguments, **spec.options)


def imdb_batches(model: str, data: Bags, batch_size: int, device: torch.device, shuffle: bool = False,
                 generator: torch.Generator | None = None, shard: Shard = SINGLE) -> batches.BagBatches | batches.SequenceBatches:
    """Batches of the form a model reads (its entry's inputs, whose registry.INPUTS entry names the class)."""
    kind = getattr(batches, INPUTS[IMDB_MODELS[model].inputs].batches)
    return kind(data, batch_size, device, shuffle=shuffle, generator=generator, shard=shard)


def imdb_graphable(model: str) -> bool:
    """Whether a model reads batches of one shape (registry.INPUTS), so the graph engine can capture it."""
    return INPUTS[IMDB_MODELS[model].inputs].graphable
