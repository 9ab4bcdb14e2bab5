"""The image models: seed 000's SimpleCNN and seed 004's MLP (the IMDB models are in reprolab.imdb.models)."""

import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    """Seed 000's CNN: conv 5x5 (10 channels) -> ReLU -> max-pool 2 -> dropout 0.2 -> linear to 10 classes.

    Same function and gradients as the seed's, computed faster on CPU: the conv weight is
    channels_last (max-pooling such maps is ~4x faster), ReLU runs after the pool on a 4x
    smaller map (max and ReLU commute), and dropout draws its mask with `torch.rand`.
    """

    dropout = 0.2

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, kernel_size=5).to(memory_format=torch.channels_last)
        self.fc = nn.Linear(10 * 12 * 12, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes) for images (batch, 1, 28, 28)."""
        features = torch.relu(F.max_pool2d(self.conv(images), 2)).flatten(1)
        return self.fc(uniform_dropout(features, self.dropout, self.training))


class ImageMLP(nn.Module):
    """Seed 004's MLP: 784 -> hidden -> ReLU -> 10 classes."""

    def __init__(self, hidden: int = 128, num_classes: int = 10):
        super().__init__()
        self.hidden = nn.Linear(28 * 28, hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes) for images (batch, 1, 28, 28)."""
        return self.out(torch.relu(self.hidden(images.flatten(1))))


def uniform_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """F.dropout's distribution (keep with 1 - p, scale by 1 / (1 - p)); its CPU bernoulli_ is ~2x slower than rand."""
    if not training or p == 0:
        return x
    return x * (torch.rand_like(x) >= p) / (1 - p)


def image_model(name: str, hidden: int) -> nn.Module:
    """The model a train_images.model param names."""
    return SimpleCNN() if name == "cnn" else ImageMLP(hidden)
