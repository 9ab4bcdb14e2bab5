"""IDX parsing, the cached image form, imbalance and rebalancing, the image models."""

import gzip
import hashlib
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import write_idx_folder
from reprolab.core.atomic import save_torch
from reprolab.core.batches import TensorBatches
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.errors import UserError
from reprolab.core.params import ImageData, Imbalance
from reprolab.images.data import (balanced_class_weights, batch_class_counts, fetch_images, imbalance_indices,
                                  load_images, normalized, strategy_batches, undersample_indices)
from reprolab.images.idx import parse_idx, read_idx_bytes, write_idx
from reprolab.images.models import ImageMLP, SimpleCNN, uniform_dropout
from reprolab.images.training import strategy_workers
from reprolab.speed.course import CourseSimpleCNN


def source(folder, md5) -> ImageData:
    return ImageData(sources=(str(folder),), raw_md5=md5, mean=0.5, std=0.5)


def test_idx_round_trip_gzip_and_raw(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "a", images, compress=False)
    for name in ("a.gz", "a"):
        assert np.array_equal(parse_idx(read_idx_bytes(tmp_path / name), 3, name), images)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x01\x02\x03", "magic number 0x00000801, expected 0x00000803"),
    (b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (2, 28, 28)) + bytes(100), "truncated"),
    (b"\x00\x00\x08", "too short"),
])
def test_bad_idx_is_one_clear_line(data, message):
    with pytest.raises(UserError, match=message):
        parse_idx(data, 3, "x-images-idx3-ubyte")


def test_corrupt_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(5000))[:-30])
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        read_idx_bytes(path)


@pytest.mark.parametrize("compress", [True, False])
def test_fetch_from_folder_caches_tensors(tmp_path, compress):
    md5 = write_idx_folder(tmp_path / "raw", compress=compress)
    arrays = fetch_images("mnist", source(tmp_path / "raw", md5), tmp_path / "mnist.pt")
    loaded = load_images(tmp_path / "mnist.pt")
    assert loaded["train_images"].shape == (120, 28, 28) and loaded["train_images"].dtype == torch.uint8
    assert loaded["test_labels"].tolist() == [i % 10 for i in range(40)]
    assert all(torch.equal(arrays[k], loaded[k]) for k in arrays if k != "classes")
    assert loaded["classes"] == arrays["classes"] == ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                                                      "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]


def test_a_cache_without_class_names_asks_for_a_fresh_fetch(tmp_path):
    save_torch(tmp_path / "mnist.pt", {"train_images": torch.zeros(2, 28, 28, dtype=torch.uint8)})
    with pytest.raises(UserError, match=r"mnist.pt: image cache without train_labels, test_images, test_labels, classes; "
                                        r"rerun 'dvc repro -f fetch_images@<dataset>'"):
        load_images(tmp_path / "mnist.pt")


def test_folder_md5_mismatch_writes_nothing(tmp_path):
    md5 = write_idx_folder(tmp_path / "raw")
    md5["t10k-labels-idx1-ubyte"] = "0" * 32
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte.gz: decompressed md5 is .*expected 0{32} .*data.mnist.raw_md5"):
        fetch_images("mnist", source(tmp_path / "raw", md5), tmp_path / "mnist.pt")
    assert not (tmp_path / "mnist.pt").exists()


def test_images_of_another_size_than_the_datasets_are_refused_before_any_write(tmp_path):
    md5 = write_idx_folder(tmp_path / "raw", compress=False, size=32)
    with pytest.raises(UserError, match=r"raw/train-images-idx3-ubyte: images of 32x32 pixels, expected 28x28 for this "
                                        r"dataset$"):
        fetch_images("mnist", source(tmp_path / "raw", md5), tmp_path / "mnist.pt")
    assert not (tmp_path / "mnist.pt").exists()


def test_missing_file_and_folder(tmp_path):
    md5 = write_idx_folder(tmp_path / "raw")
    (tmp_path / "raw/train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="neither train-labels-idx1-ubyte.gz nor train-labels-idx1-ubyte"):
        fetch_images("mnist", source(tmp_path / "raw", md5), tmp_path / "mnist.pt")
    with pytest.raises(UserError, match="no folder in data.mnist.sources exists"):
        fetch_images("mnist", source(tmp_path / "absent", md5), tmp_path / "mnist.pt")


def test_the_first_folder_that_exists_is_read(tmp_path):
    md5 = write_idx_folder(tmp_path / "second", seed=1)
    params = ImageData(sources=(str(tmp_path / "absent"), str(tmp_path / "second"), "download"), raw_md5=md5,
                       mean=0.5, std=0.5)
    arrays = fetch_images("mnist", params, tmp_path / "mnist.pt")
    assert arrays["train_images"].shape == (120, 28, 28)


def test_count_mismatch_and_bad_labels(tmp_path):
    folder = tmp_path / "raw"
    write_idx_folder(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(39, dtype=np.uint8))
    md5 = {name: hashlib.md5(read_idx_bytes(folder / f"{name}.gz")).hexdigest() for name in
           ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    with pytest.raises(UserError, match="40 images but t10k-labels-idx1-ubyte has 39 labels"):
        fetch_images("mnist", source(folder, md5), tmp_path / "mnist.pt")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(40, 12, dtype=np.uint8))
    md5["t10k-labels-idx1-ubyte"] = hashlib.md5(read_idx_bytes(folder / "t10k-labels-idx1-ubyte.gz")).hexdigest()
    with pytest.raises(UserError, match="label 12 outside 0..9"):
        fetch_images("mnist", source(folder, md5), tmp_path / "mnist.pt")


def test_torchvision_gz_passes_without_raw_md5(tmp_path, monkeypatch):
    md5 = write_idx_folder(tmp_path / "raw")
    resources = [(f"{name}.gz", hashlib.md5((tmp_path / "raw" / f"{name}.gz").read_bytes()).hexdigest()) for name in md5]
    monkeypatch.setattr("torchvision.datasets.MNIST.resources", resources)
    fetch_images("mnist", source(tmp_path / "raw", {}), tmp_path / "mnist.pt")
    assert (tmp_path / "mnist.pt").exists()


def test_imbalance_keeps_the_fraction_seeded():
    labels = torch.arange(1000) % 10
    params = Imbalance(classes=(1, 2), fraction=0.05, seed=3)
    kept = imbalance_indices(labels, params)
    counts = torch.bincount(labels[kept], minlength=10).tolist()
    assert counts == [100, 5, 5, 100, 100, 100, 100, 100, 100, 100]
    assert torch.equal(kept, imbalance_indices(labels, params))
    assert not torch.equal(kept, imbalance_indices(labels, Imbalance(classes=(1, 2), fraction=0.05, seed=4)))
    assert torch.equal(kept, torch.sort(kept).values)


def imbalanced_labels() -> torch.Tensor:
    return torch.cat([torch.full((900,), 0), torch.full((100,), 1), torch.full((50,), 2)])


def test_rebalancing_strategies():
    labels = imbalanced_labels()
    weights = balanced_class_weights(labels)
    assert weights[:3].tolist() == pytest.approx([1050 / (3 * 900), 1050 / (3 * 100), 1050 / (3 * 50)])
    assert weights[3:].sum() == 0
    rows = undersample_indices(labels, seed=0)
    assert torch.bincount(labels[rows]).tolist() == [50, 50, 50]
    generator = torch.Generator().manual_seed(0)
    batches, class_weights = strategy_batches("weighted_sampler", labels, labels, 105, torch.device("cpu"), generator, 0)
    assert class_weights is None and len(batches) == 10
    drawn = torch.cat([y for _, y in batches])
    assert len(drawn) == len(labels)
    share = torch.bincount(drawn, minlength=3).float() / len(drawn)
    assert share.tolist() == pytest.approx([1 / 3] * 3, abs=0.06)
    from reprolab.images.data import sample_weights

    mass = torch.bincount(labels, weights=sample_weights(labels))  # each class's chance per draw, exactly
    assert (mass / mass.sum()).tolist() == pytest.approx([1 / 3] * 3, abs=1e-12)
    plain, _ = strategy_batches("none", labels, labels, 105, torch.device("cpu"), torch.Generator().manual_seed(0), 0)
    assert batch_class_counts(plain, 4)[:, 2].sum() < batch_class_counts(batches, 4)[:, 2].sum()
    _, class_weights = strategy_batches("class_weights", labels, labels, 105, torch.device("cpu"), generator, 0)
    assert torch.equal(class_weights, weights)


def test_tensor_batches_reproducible_and_complete():
    x, y = torch.arange(50).float().unsqueeze(1), torch.arange(50)
    runs = [[b for _, b in TensorBatches(x, y, 8, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(5))]
            for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
    assert sorted(torch.cat(runs[0]).tolist()) == list(range(50)) and len(runs[0]) == 7


def test_normalized_matches_totensor_normalize():
    from torchvision import transforms
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    seed_transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    expected = torch.stack([seed_transform(image.numpy()) for image in images])
    assert torch.allclose(normalized(images, 0.1307, 0.3081), expected, atol=1e-6)


def test_simple_cnn_matches_the_seeds_function_and_gradients():
    torch.manual_seed(0)
    ours, seed = SimpleCNN(), CourseSimpleCNN()
    seed.load_state_dict({"conv1.weight": ours.conv.weight, "conv1.bias": ours.conv.bias,
                          "fc.weight": ours.fc.weight, "fc.bias": ours.fc.bias})
    images, labels = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    ours.eval(), seed.eval()
    for model in (ours, seed):
        F.cross_entropy(model(images), labels).backward()
    assert torch.allclose(ours(images), seed(images), atol=1e-5)
    assert torch.allclose(ours.conv.weight.grad, seed.conv1.weight.grad, atol=1e-5)
    assert torch.allclose(ours.fc.weight.grad, seed.fc.weight.grad, atol=1e-5)


def test_dropout_keeps_expected_share_and_scale():
    features = torch.ones(200, 1440)
    dropped = uniform_dropout(features, 0.2, training=True)
    assert set(torch.unique(dropped).tolist()) == {0.0, 1.25}
    assert (dropped == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert torch.equal(uniform_dropout(features, 0.2, training=False), features)


def test_image_mlp_shape():
    assert ImageMLP(32)(torch.randn(4, 1, 28, 28)).shape == (4, 10)


def test_weighted_draws_equal_weighted_random_samplers_on_the_generators_device():
    from torch.utils.data import WeightedRandomSampler

    from reprolab.images.data import sample_weights

    labels = imbalanced_labels()
    ours = TensorBatches(labels, labels, 64, torch.device("cpu"), generator=torch.Generator().manual_seed(3),
                         weights=sample_weights(labels))
    sampler = WeightedRandomSampler(sample_weights(labels), len(labels), replacement=True,
                                    generator=torch.Generator().manual_seed(3))
    for _ in range(2):  # two epochs: the generator moves on alike
        assert torch.cat([y for _, y in ours]).tolist() == [labels[i].item() for i in sampler]


def test_strategies_train_side_by_side_only_on_cpu_in_one_process():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert strategy_workers(cpu, SINGLE, 4) == min(4, os.cpu_count())
    assert strategy_workers(cpu, SINGLE, 1) == 1
    assert strategy_workers(cpu, Shard(rank=0, world=2), 4) == 1
    assert strategy_workers(cuda, SINGLE, 4) == 1
