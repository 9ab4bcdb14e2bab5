"""The seed's OneHotMLP, fed word-id bags instead of dense one-hot rows."""

import math

import torch
import torch.nn.functional as F
from torch import nn

HEAD_OUTPUTS = {"bce": 1, "ce": 2}


class OneHotMLP(nn.Module):
    """num_features -> hidden -> ReLU -> 1 logit (bce) or 2 logits (ce).

    The first layer's weight is stored as (num_features, hidden), so `one_hot @ weight + bias`
    (mode "dense", the seed's computation) and a summed EmbeddingBag over the review's word
    ids (mode "embedding_bag") use the same parameters and give the same result.
    """

    def __init__(self, num_features: int, hidden: int = 200, head: str = "bce", mode: str = "embedding_bag"):
        super().__init__()
        self.num_features, self.mode = num_features, mode
        self.first_weight = nn.Parameter(torch.empty(num_features, hidden))
        self.first_bias = nn.Parameter(torch.empty(hidden))
        self.out = nn.Linear(hidden, HEAD_OUTPUTS[head])
        bound = 1 / math.sqrt(num_features)  # nn.Linear(num_features, hidden)'s default init
        nn.init.uniform_(self.first_weight, -bound, bound)
        nn.init.uniform_(self.first_bias, -bound, bound)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, outputs) for bags given as flat ids and start offsets."""
        if self.mode == "dense":
            hidden = one_hot_rows(ids, offsets, self.num_features) @ self.first_weight + self.first_bias
        else:
            hidden = F.embedding_bag(ids, self.first_weight, offsets, mode="sum") + self.first_bias
        return self.out(torch.relu(hidden))


def one_hot_rows(ids: torch.Tensor, offsets: torch.Tensor, num_features: int) -> torch.Tensor:
    """Dense float one-hot rows (batch, num_features) from bags of distinct ids."""
    lengths = torch.diff(offsets, append=torch.tensor([len(ids)], device=offsets.device))
    rows = torch.repeat_interleave(torch.arange(len(offsets), device=ids.device), lengths)
    dense = torch.zeros(len(offsets), num_features, device=ids.device)
    dense[rows, ids] = 1.0
    return dense
