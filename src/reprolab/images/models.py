"""The image models: course 000's SimpleCNN and course 004's MLP (the IMDB models are in reprolab.imdb.models).

Each takes hidden, image_shape (channels, height, width) and num_classes; core.registry.IMAGE_MODELS names them.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from reprolab.core.registry import IMAGE_MODELS

COURSE_IMAGES = (1, 28, 28)  # the course's grey MNIST-sized images, for models built outside a stage


class SimpleCNN(nn.Module):
    """Course 000's CNN: conv 5x5 (10 channels) -> ReLU -> max-pool 2 -> dropout 0.2 -> linear to 10 classes.

    Same function and gradients as the course's, computed faster on CPU: the conv weight is
    channels_last (max-pooling such maps is ~4x faster), ReLU runs after the pool on a 4x
    smaller map (max and ReLU commute), and dropout draws its mask with `torch.rand`.
    """

    dropout = 0.2

    def __init__(self, hidden: int = 0, image_shape: tuple[int, int, int] = COURSE_IMAGES, num_classes: int = 10):
        """hidden: unused, the course's CNN has no hidden layer to size."""
        super().__init__()
        channels, height, width = image_shape
        self.conv = nn.Conv2d(channels, 10, kernel_size=5).to(memory_format=torch.channels_last)
        self.fc = nn.Linear(10 * ((height - 4) // 2) * ((width - 4) // 2), num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes) for images (batch, channels, height, width)."""
        features = torch.relu(F.max_pool2d(self.conv(images), 2)).flatten(1)
        return self.fc(uniform_dropout(features, self.dropout, self.training))


class ImageMLP(nn.Module):
    """Course 004's MLP: pixels (784 for its images) -> hidden -> ReLU -> classes."""

    def __init__(self, hidden: int = 128, image_shape: tuple[int, int, int] = COURSE_IMAGES, num_classes: int = 10):
        super().__init__()
        self.hidden = nn.Linear(math.prod(image_shape), hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes) for images (batch, channels, height, width)."""
        return self.out(torch.relu(self.hidden(images.flatten(1))))


def uniform_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """F.dropout's distribution (keep with 1 - p, scale by 1 / (1 - p)); its CPU bernoulli_ is ~2x slower than rand."""
    if not training or p == 0:
        return x
    return x * (torch.rand_like(x) >= p) / (1 - p)


def image_model(name: str, hidden: int, image_shape: tuple[int, int, int] = COURSE_IMAGES,
                num_classes: int = 10) -> nn.Module:
    """The model a train_images.model param names, for images of image_shape (channels, height, width)."""
    return globals()[IMAGE_MODELS[name].builder](hidden=hidden, image_shape=image_shape, num_classes=num_classes)


def data_shape(images: torch.Tensor, classes: list[str]) -> dict:
    """image_model's image_shape and num_classes for normalised images (N, channels, height, width) and class names."""
    return {"image_shape": tuple(images.shape[1:]), "num_classes": len(classes)}
