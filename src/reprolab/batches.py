"""Whole batches of in-memory bags by index: no per-item __getitem__, no collate."""

from collections.abc import Iterator

import numpy as np
import torch

from reprolab.imdb import Bags


class BagBatches:
    """Iterate (ids, offsets, labels) tensors over bags held as flat CSR arrays.

    The arrays live on `device` once; each batch is a gather. Shuffling draws a fresh
    permutation per epoch from the given generator, so runs repeat exactly.
    """

    def __init__(self, bags: Bags, batch_size: int, device: torch.device, shuffle: bool = False,
                 generator: torch.Generator | None = None):
        self.batch_size, self.shuffle, self.generator, self.device = batch_size, shuffle, generator, device
        self.ids = torch.from_numpy(bags.ids.astype(np.int64)).to(device)
        self.offsets = torch.from_numpy(bags.offsets.astype(np.int64)).to(device)
        self.labels = torch.from_numpy(bags.labels.astype(np.int64)).to(device)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        count = len(self.labels)
        order = torch.randperm(count, generator=self.generator) if self.shuffle else torch.arange(count)
        order = order.to(self.device)
        for start in range(0, count, self.batch_size):
            yield self._gather(order[start : start + self.batch_size])

    def _gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        starts, lengths = self.offsets[rows], self.offsets[rows + 1] - self.offsets[rows]
        batch_offsets = torch.cumsum(lengths, 0) - lengths
        flat = torch.repeat_interleave(starts - batch_offsets, lengths) + torch.arange(int(lengths.sum()), device=self.device)
        return self.ids[flat], batch_offsets, self.labels[rows]
