"""MNIST and Fashion-MNIST: fetch and validate the IDX files, cache them, make the imbalanced training set."""

import hashlib
import pickle
import tempfile
from pathlib import Path

import numpy as np
import torch

from reprolab.core.atomic import save_torch
from reprolab.core.batches import TensorBatches
from reprolab.core.clock import phase
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.errors import UserError
from reprolab.core.fetch import fetch
from reprolab.core.params import ImageData, Imbalance
from reprolab.core.registry import IDX_FILES, IMAGE_DATASETS, NUM_IMAGE_CLASSES, STRATEGIES
from reprolab.images.idx import parse_idx, read_idx_bytes

SPLIT_FILES = {"train": IDX_FILES[:2], "test": IDX_FILES[2:]}  # each split's images and labels files
CACHE_KEYS = (*(f"{split}_{kind}" for split in SPLIT_FILES for kind in ("images", "labels")), "classes")
OFFLINE_HINT = "without internet, put a folder holding the four IDX files first in data.{name}.sources"


def torchvision_dataset(name: str):
    """torchvision's class for a dataset: its class names, file list, md5s and mirrors (imported only when needed)."""
    with phase("imports"):
        from torchvision import datasets

    return getattr(datasets, IMAGE_DATASETS[name].torchvision)


def _download(name: str, folder: Path) -> dict[str, bytes]:
    """The four IDX files from torchvision's mirrors, each md5-checked against torchvision's list."""
    dataset, files = torchvision_dataset(name), {}
    for filename, md5 in dataset.resources:
        errors = []
        for mirror in dataset.mirrors:
            try:
                fetch(mirror + filename, md5, folder / filename, f"data.{name}.sources", OFFLINE_HINT.format(name=name),
                      checksum_from="torchvision's checksum list", algorithm="md5")
                break
            except UserError as err:
                errors.append(str(err))
        else:
            raise UserError(errors[-1])
        files[filename.removesuffix(".gz")] = read_idx_bytes(folder / filename)
    return files


def _find(folder: Path, base: str, param: str) -> Path:
    for candidate in (folder / f"{base}.gz", folder / base):
        if candidate.is_file():
            return candidate
    raise UserError(f"{folder}: has neither {base}.gz nor {base} (param {param})")


def _read_local(name: str, folder: Path, raw_md5: dict[str, str]) -> dict[str, bytes]:
    """The four IDX files from a folder; each must be torchvision's .gz or match raw_md5 decompressed.

    Debian's dataset-fashion-mnist recompresses the files, so their .gz digests differ from
    upstream while the decompressed content is the same.
    """
    param = f"data.{name}.sources"
    upstream = {filename.removesuffix(".gz"): md5 for filename, md5 in torchvision_dataset(name).resources}
    files = {}
    for base in IDX_FILES:
        path = _find(folder, base, param)
        if path.suffix == ".gz" and hashlib.md5(path.read_bytes()).hexdigest() == upstream[base]:
            files[base] = read_idx_bytes(path)
            continue
        files[base] = read_idx_bytes(path)
        actual, expected = hashlib.md5(files[base]).hexdigest(), raw_md5.get(base)
        if actual != expected:
            wanted = f"expected {expected} (param data.{name}.raw_md5)" if expected else f"no data.{name}.raw_md5 entry for it"
            raise UserError(f"{path}: decompressed md5 is {actual}, {wanted}, and it is not torchvision's .gz")
    return files


def _arrays(files: dict[str, bytes], source: str, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Images (N, height, width) of the dataset's size and labels (N,) per split, checked against each other."""
    arrays = {}
    for split, (images_file, labels_file) in SPLIT_FILES.items():
        images = parse_idx(files[images_file], 3, f"{source}/{images_file}")
        labels = parse_idx(files[labels_file], 1, f"{source}/{labels_file}")
        if images.shape[1:] != size:
            raise UserError(f"{source}/{images_file}: images of {'x'.join(map(str, images.shape[1:]))} pixels, "
                            f"expected {'x'.join(map(str, size))} for this dataset")
        if len(images) != len(labels):
            raise UserError(f"{source}/{images_file}: {len(images)} images but {labels_file} has {len(labels)} labels")
        if labels.size and labels.max() >= NUM_IMAGE_CLASSES:
            raise UserError(f"{source}/{labels_file}: label {labels.max()} outside 0..{NUM_IMAGE_CLASSES - 1}")
        arrays[f"{split}_images"] = torch.from_numpy(images.copy())
        arrays[f"{split}_labels"] = torch.from_numpy(labels.astype(np.int64))
    return arrays


def _read_first(name: str, params: ImageData, folder: Path) -> tuple[dict[str, bytes], str]:
    """The IDX files from the first of data.<name>.sources that exists ("download" always does), and where from."""
    for source in params.sources:
        if source == "download":
            return _download(name, folder), torchvision_dataset(name).mirrors[0]
        local = Path(source).expanduser()
        if local.is_dir():
            return _read_local(name, local, params.raw_md5), str(local)
    raise UserError(f"no folder in data.{name}.sources exists ({', '.join(params.sources)}); "
                    f"add 'download', or a folder holding the four IDX files")


@phase("load")
def fetch_images(name: str, params: ImageData, dest: str | Path) -> dict[str, torch.Tensor]:
    """Download or copy a dataset's IDX files, validate them, and save one cached .pt file."""
    with tempfile.TemporaryDirectory() as folder:
        files, where = _read_first(name, params, Path(folder))
    arrays = {**_arrays(files, where, IMAGE_DATASETS[name].size), "classes": list(torchvision_dataset(name).classes)}
    save_torch(dest, arrays)
    return arrays


@phase("load")
def load_images(path: str | Path) -> dict:
    """The cache fetch_images writes: uint8 images and int64 labels per split, and the class names.

    The names come from torchvision's list once, at fetch; the stages after it read them here without torchvision.
    """
    arrays = _load(path, "image cache", "fetch_images")
    missing = [key for key in CACHE_KEYS if not isinstance(arrays, dict) or key not in arrays]
    if missing:
        raise UserError(f"{path}: image cache without {', '.join(missing)}; rerun 'dvc repro -f fetch_images@<dataset>'")
    return arrays


@phase("load")
def load_kept(path: str | Path) -> torch.Tensor:
    """The kept training indices written by the imbalance stage."""
    return _load(path, "list of kept images", "imbalance")


def _load(path: str | Path, what: str, stage: str):
    try:
        return torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{path}: unreadable {what} ({reason}); rerun 'dvc repro -f {stage}@<dataset>'") from None


@phase("prepare")
def imbalance_indices(labels: torch.Tensor, params: Imbalance) -> torch.Tensor:
    """Sorted indices kept: listed classes keep round(fraction * count) samples, drawn seeded; others all."""
    rng = np.random.default_rng(params.seed)
    labels = labels.numpy()
    kept = []
    for cls in range(NUM_IMAGE_CLASSES):
        members = np.flatnonzero(labels == cls)
        if cls in params.classes:
            size = round(params.fraction * len(members))
            if size == 0 and len(members):
                raise UserError(f"params.yaml: imbalance.fraction={params.fraction:g} keeps no image of class {cls} "
                                f"({len(members)} x {params.fraction:g} rounds to 0); raise it to at least "
                                f"{1 / len(members):.2g}")
            members = rng.choice(members, size=size, replace=False)
        kept.append(members)
    return torch.from_numpy(np.sort(np.concatenate(kept)))


def class_counts(labels: torch.Tensor) -> list[int]:
    """Samples per class, for all ten classes."""
    return torch.bincount(labels, minlength=NUM_IMAGE_CLASSES).tolist()


def balanced_class_weights(labels: torch.Tensor) -> torch.Tensor:
    """scikit-learn's 'balanced' weights n / (classes * count); classes absent get weight 0."""
    with phase("imports"):
        from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels.numpy())
    weights = np.zeros(NUM_IMAGE_CLASSES)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels.numpy())
    return torch.tensor(weights, dtype=torch.float32)


def sample_weights(labels: torch.Tensor) -> torch.Tensor:
    """Inverse-frequency weight of each sample: drawn with replacement, every class comes up equally often.

    Drawn with torch.multinomial(weights, len(labels), replacement=True), as WeightedRandomSampler does,
    on whatever device the batches' generator lives.
    """
    counts = torch.bincount(labels, minlength=NUM_IMAGE_CLASSES).double()
    return 1.0 / counts[labels]


def undersample_indices(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Positions into labels that keep every present class at the smallest class's count, seeded."""
    rng = np.random.default_rng(seed)
    labels = labels.numpy()
    present = np.unique(labels)
    smallest = min(int((labels == cls).sum()) for cls in present)
    kept = [rng.choice(np.flatnonzero(labels == cls), size=smallest, replace=False) for cls in present]
    return torch.from_numpy(np.sort(np.concatenate(kept)))


@phase("prepare")
def normalized(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), ToTensor's /255 then Normalize(mean, std), all at once."""
    return images.float().div_(255.0).sub_(mean).div_(std).unsqueeze(1)  # in place: one float copy, not four


def strategy_rows(strategy: str, labels: torch.Tensor, seed: int) -> torch.Tensor | slice:
    """The training rows a strategy trains on: an undersampled subset, or all of them."""
    return undersample_indices(labels, seed) if STRATEGIES[strategy].undersample else slice(None)


@phase("prepare")
def strategy_batches(strategy: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                     device: torch.device, generator: torch.Generator, seed: int,
                     shard: Shard = SINGLE) -> tuple[TensorBatches, torch.Tensor | None]:
    """Training batches for a rebalancing strategy (this process's share of them), and the class weights its loss
    should use (or None): what its registry.STRATEGIES entry asks for, in that order."""
    spec = STRATEGIES[strategy]
    rows = strategy_rows(strategy, labels, seed)
    images, labels = images[rows], labels[rows]
    weights = balanced_class_weights(labels).to(device) if spec.class_weights else None
    if spec.sampler:
        return TensorBatches(images, labels, batch_size, device, generator=generator, weights=sample_weights(labels),
                             shard=shard), weights
    return TensorBatches(images, labels, batch_size, device, shuffle=True, generator=generator, shard=shard), weights


def batch_class_counts(batches: TensorBatches, num_batches: int) -> np.ndarray:
    """(num_batches, classes) label counts of an epoch's first batches: what the sampler feeds the model."""
    counts = []
    for _, labels in batches:
        counts.append(torch.bincount(labels.cpu(), minlength=NUM_IMAGE_CLASSES).numpy())
        if len(counts) == num_batches:
            break
    return np.stack(counts)
