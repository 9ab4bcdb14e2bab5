"""Whole batches of in-memory data by index: no per-item __getitem__, no collate."""

import copy
from collections.abc import Iterator
from typing import Any, TypeVar

import torch

from reprolab.core.distributed import SINGLE, Shard


def epoch_order(count: int, shuffle: bool, generator: torch.Generator | None,
                weights: torch.Tensor | None = None, shard: Shard = SINGLE) -> torch.Tensor:
    """This process's rows of one epoch's order, drawn on the generator's device.

    With weights: its share of count draws with replacement (WeightedRandomSampler's torch.multinomial),
    from its own generator (shard.generator); else its share of a seeded permutation (shuffle) or of
    0..count-1, which every process draws alike.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    if weights is not None:
        return torch.multinomial(weights.to(device), shard.size(count), replacement=True, generator=generator)
    order = torch.randperm(count, generator=generator, device=device) if shuffle else torch.arange(count, device=device)
    return shard.take(order)


def batch_slices(count: int, batch_size: int, shard: Shard = SINGLE) -> list[slice]:
    """Each batch's slice of this process's rows of a count-row epoch: batch_size / world rows each.

    Every process gets as many batches as one process would, so DDP's steps line up; a last batch
    of fewer rows than processes leaves some of them an empty one.
    """
    local = batch_size // shard.world
    return [slice(number * local, (number + 1) * local) for number in range(-(-count // batch_size))]


Batches = TypeVar("Batches")


def stored_order(batches: Batches, batch_size: int, **changes: Any) -> Batches:
    """batches' rows (this process's share of them) in stored order, batch_size at a time, their tensors shared and
    nothing drawn from a generator; changes: other attributes the view sets."""
    view = copy.copy(batches)
    vars(view).update(batch_size=batch_size, shuffle=False, generator=None, **changes)
    return view


class TensorBatches:
    """Iterate (inputs, labels) over tensors held on `device` once; each batch is one gather.

    The order per epoch comes from `weights` (weighted draws with replacement) when given, else a
    seeded permutation (shuffle) or the stored order, drawn on the generator's device; a shard takes
    its process's share of each batch. With host_pinned on CUDA, the tensors stay in pinned host
    memory and each batch is copied with non_blocking=True instead (for data too big for the GPU).
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device,
                 shuffle: bool = False, generator: torch.Generator | None = None,
                 weights: torch.Tensor | None = None, host_pinned: bool = False, shard: Shard = SINGLE):
        self.batch_size, self.shuffle, self.weights, self.shard = batch_size, shuffle, weights, shard
        self.generator = shard.generator(generator) if weights is not None and generator is not None else generator
        self.device, self.host_pinned = device, host_pinned and device.type == "cuda"
        if self.host_pinned:
            self.inputs, self.labels = inputs.pin_memory(), labels.pin_memory()
        else:
            self.inputs, self.labels = inputs.to(device), labels.to(device)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def in_order(self, batch_size: int) -> "TensorBatches":
        """These rows as evaluation reads them (stored_order), unweighted."""
        return stored_order(self, batch_size, weights=None)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = epoch_order(len(self.labels), self.shuffle, self.generator, self.weights, self.shard)
        order = order.to(self.labels.device)
        for batch in batch_slices(len(self.labels), self.batch_size, self.shard):
            rows = order[batch]
            if self.host_pinned:
                # the gather lands in pageable memory; pinning it lets the copy overlap compute
                yield (self.inputs[rows].pin_memory().to(self.device, non_blocking=True),
                       self.labels[rows].pin_memory().to(self.device, non_blocking=True))
            else:
                yield self.inputs[rows], self.labels[rows]
