"""The IMDB track's batches: word-id bags (one-hot rows) and padded token sequences, gathered whole."""

from collections.abc import Iterator

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from reprolab.core.batches import batch_slices, epoch_order, stored_order
from reprolab.core.distributed import SINGLE, Shard
from reprolab.imdb.data import PAD, Bags


class BagBatches:
    """Iterate (ids, offsets, labels) tensors over bags held as flat CSR arrays.

    Each epoch lays the bags out in epoch order once, then slices batches from that layout; on
    CUDA the arrays live on the GPU and the layout is one gather there. Shuffling draws a fresh
    permutation per epoch from the given generator, so runs repeat exactly.
    """

    def __init__(self, bags: Bags, batch_size: int, device: torch.device, shuffle: bool = False,
                 generator: torch.Generator | None = None, shard: Shard = SINGLE):
        self.batch_size, self.shuffle, self.generator, self.device = batch_size, shuffle, generator, device
        self.bags, self.shard = bags, shard
        if self.laid_out:
            self.bag_ids = np.split(bags.ids, bags.offsets[1:-1])  # one view per bag, for _laid_out
        self.ids = torch.from_numpy(bags.ids.astype(np.int64)).to(device)
        self.offsets = torch.from_numpy(bags.offsets.astype(np.int64)).to(device)
        self.labels = torch.from_numpy(bags.labels.astype(np.int64)).to(device)

    @property
    def laid_out(self) -> bool:
        """Whether an epoch is laid out from per-bag views (_laid_out), else by one gather (_gathered)."""
        return self.device.type == "cpu" and self.shuffle

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def in_order(self, batch_size: int) -> "BagBatches":
        """These bags as evaluation reads them (stored_order)."""
        return stored_order(self, batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = epoch_order(len(self.labels), self.shuffle, self.generator, shard=self.shard)
        ids, offsets = self._laid_out(order) if self.laid_out else self._gathered(order.to(self.device))
        order = order.to(self.device)
        # contiguous batches, each starting within this process's rows; the last may be short or empty
        starts = [batch.start for batch in batch_slices(len(self.labels), self.batch_size, self.shard)]
        rows = np.diff(starts + [len(order)]).tolist()
        edges = offsets[starts + [len(order)]]
        ids_per_batch = torch.diff(edges).tolist()  # one host sync per epoch
        # each batch's offsets start at 0; cut once per epoch, so a step takes views instead of making tensors
        relative = offsets[:-1] - edges[:-1].repeat_interleave(torch.tensor(rows, device=self.device),
                                                               output_size=len(order))
        yield from zip(ids.split(ids_per_batch), relative.split(rows), self.labels[order].split(rows))

    def _laid_out(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ids of bags `rows`, concatenated in that order, and their len(rows) + 1 offsets.

        For a shuffled order on CPU, concatenating views of the stored 16-bit ids is faster than _gathered.
        """
        rows = rows.numpy()
        ids = np.concatenate([self.bags.ids[:0], *[self.bag_ids[row] for row in rows.tolist()]]).astype(np.int64)
        lengths = self.bags.offsets[rows + 1] - self.bags.offsets[rows]
        return torch.from_numpy(ids), torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)]))

    def _gathered(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """_laid_out as one gather on the device that holds the bags."""
        starts, lengths = self.offsets[rows], self.offsets[rows + 1] - self.offsets[rows]
        offsets = torch.cat([lengths.new_zeros(1), torch.cumsum(lengths, 0)])
        flat = torch.repeat_interleave(starts - offsets[:-1], lengths) + torch.arange(int(offsets[-1]), device=self.device)
        return self.ids[flat], offsets


def padded_bags(ids: torch.Tensor, offsets: torch.Tensor, pad: int) -> torch.Tensor:
    """(bags, longest bag) ids, each bag's ids then pad, from flat ids and len(bags) + 1 offsets."""
    lengths = offsets[1:] - offsets[:-1]
    padded = torch.full((len(lengths), int(lengths.max()) if len(lengths) else 0), pad, dtype=torch.int64,
                        device=ids.device)
    rows = torch.repeat_interleave(torch.arange(len(lengths), device=ids.device), lengths)
    padded[rows, torch.arange(len(ids), device=ids.device) - offsets[rows]] = ids
    return padded


class SequenceBatches:
    """Iterate (padded ids, lengths, labels) over token sequences, lengths bucketed to limit padding.

    Each epoch takes a seeded permutation (or the stored order), sorts it by length within pools
    of `pool_batches` batches, cuts batches, and shuffles their order; `pad_sequence` pads each
    batch to its longest review only. A shard takes its process's share of each batch.
    """

    def __init__(self, sequences: Bags, batch_size: int, device: torch.device, shuffle: bool = False,
                 generator: torch.Generator | None = None, pool_batches: int = 50, shard: Shard = SINGLE):
        self.batch_size, self.shuffle, self.generator, self.device = batch_size, shuffle, generator, device
        self.shard, self.pool_batches = shard, pool_batches
        self.ids = torch.from_numpy(sequences.ids.astype(np.int64))
        self.offsets = torch.from_numpy(sequences.offsets.astype(np.int64))
        self.lengths = self.offsets[1:] - self.offsets[:-1]
        self.labels = torch.from_numpy(sequences.labels.astype(np.int64))

    @property
    def pool(self) -> int:
        """Sequences sorted by length together: pool_batches batches."""
        return self.batch_size * self.pool_batches

    def in_order(self, batch_size: int) -> "SequenceBatches":
        """These sequences as evaluation reads them (stored_order)."""
        return stored_order(self, batch_size)

    def __len__(self) -> int:
        count = len(self.labels)
        return sum(-(-min(self.pool, count - start) // self.batch_size) for start in range(0, count, self.pool))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = epoch_order(len(self.labels), self.shuffle, self.generator)
        batches = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            batches += list(pool[torch.argsort(self.lengths[pool], stable=True)].split(self.batch_size))
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        for rows in batches:
            rows = self.shard.take(rows)
            starts, ends = self.offsets[rows].tolist(), self.offsets[rows + 1].tolist()
            padded = pad_sequence([self.ids[s:e] for s, e in zip(starts, ends, strict=True)] or [self.ids[:0]],
                                  batch_first=True, padding_value=PAD)
            yield padded.to(self.device), self.lengths[rows].to(self.device), self.labels[rows].to(self.device)
