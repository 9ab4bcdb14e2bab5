"""The course's own code paths, kept verbatim in spirit, so benchmarks and tests measure against them."""

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms

from reprolab.images.data import torchvision_dataset
from reprolab.images.idx import write_idx
from reprolab.imdb.data import Bags


class CourseOneHotMLP(nn.Module):
    """Course 002's OneHotMLP: nn.Linear over dense one-hot rows."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.fc1 = nn.Linear(vocab_size + 1, 200)
        self.fc2 = nn.Linear(200, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x.float())))


class CourseSimpleCNN(nn.Module):
    """Course 000's SimpleCNN."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(10 * 12 * 12, 10)
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = x.view(-1, 10 * 12 * 12)
        x = self.dropout(x)
        return self.fc(x)


class CourseCachedOneHot(Dataset):
    """Course 002 II.2.c: one dense float one-hot tensor per review, built once, served per item."""

    def __init__(self, bags: Bags, num_features: int, rows: int | None = None):
        count = len(bags) if rows is None else min(rows, len(bags))
        self.labels = [torch.tensor(int(label)) for label in bags.labels[:count]]
        self.sentences = []
        for row in range(count):
            one_hot = torch.zeros(num_features)
            one_hot[torch.from_numpy(bags.ids[bags.offsets[row] : bags.offsets[row + 1]].astype(np.int64))] = 1
            self.sentences.append(one_hot)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.sentences[idx], self.labels[idx]


def course_image_loader(arrays: dict[str, torch.Tensor], rows: torch.Tensor, dataset: str, root: Path, mean: float,
                      std: float, batch_size: int) -> DataLoader:
    """Course 000's loader: torchvision's dataset (raw IDX files under root) with per-sample ToTensor + Normalize."""
    raw = root / torchvision_dataset(dataset).__name__ / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, split in (("train", "train"), ("t10k", "test")):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", arrays[f"{split}_images"].numpy(), compress=False)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", arrays[f"{split}_labels"].numpy().astype(np.uint8), compress=False)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    full = torchvision_dataset(dataset)(str(root), train=True, download=False, transform=transform)
    return DataLoader(Subset(full, rows.tolist()), batch_size=batch_size, shuffle=True)
