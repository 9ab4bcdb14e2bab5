"""CUDA checks, run only where a GPU is visible (pytest -m gpu)."""

import math

import pytest
import torch

from conftest import write_idx_folder, write_imdb_archive
from project import Project
from reprolab.core.batches import TensorBatches
from reprolab.core.device import seed_everything
from reprolab.core.engines import fit, resident_tensors, train_epoch
from reprolab.core.train import loss_function
from reprolab.images.models import image_model
from reprolab.imdb.batches import BagBatches
from reprolab.imdb.models import OneHotMLP
from reprolab.imdb.training import resident_bags
from reprolab.speed.gpu import gpu_benchmark, gpu_table
from test_gpu_benchmark import image_data
from test_models import NUM_FEATURES, random_bags, train_params

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]


@pytest.mark.parametrize("mode", ["embedding_bag", "dense"])
@pytest.mark.parametrize("head", ["bce", "ce"])
def test_cuda_forward_backward_match_cpu(mode, head):
    torch.manual_seed(0)
    cpu_model = OneHotMLP(NUM_FEATURES, 16, head, mode)
    cuda_model = OneHotMLP(NUM_FEATURES, 16, head, mode).cuda()
    cuda_model.load_state_dict(cpu_model.state_dict())
    bags = random_bags(64)
    criterion = loss_function(head)
    for model, device in ((cpu_model, "cpu"), (cuda_model, "cuda")):
        ids, offsets, labels = next(iter(BagBatches(bags, 64, torch.device(device))))
        criterion(model(ids, offsets), labels).backward()
    for p_cpu, p_cuda in zip(cpu_model.parameters(), cuda_model.parameters(), strict=True):
        torch.testing.assert_close(p_cuda.grad.cpu(), p_cpu.grad, rtol=1e-4, atol=1e-6)


def test_pipeline_on_cuda(tmp_path):
    project = Project(tmp_path / "repo")
    project.use_archive(write_imdb_archive(tmp_path / "a.tar.gz"))
    project.set_params(imdb__vocab_size=8, train_imdb__epochs=1, train_imdb__batch_size=2, train_imdb__device="cuda")
    project.repro("evaluate_imdb")
    assert project.json("timings/train_imdb.json")["device"] == "cuda"
    training = project.json("metrics/train_imdb/metrics.json")
    assert training["device"] == "cuda" and training["engine"] == "graph"


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_image_models_match_cpu(name):
    torch.manual_seed(0)
    cpu_model = image_model(name, 32).eval()
    cuda_model = image_model(name, 32).cuda().eval()
    cuda_model.load_state_dict(cpu_model.state_dict())
    images, labels = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    for model, device in ((cpu_model, "cpu"), (cuda_model, "cuda")):
        torch.nn.functional.cross_entropy(model(images.to(device)), labels.to(device)).backward()
    torch.testing.assert_close(cuda_model(images.cuda()).cpu(), cpu_model(images), rtol=1e-4, atol=1e-5)
    for p_cpu, p_cuda in zip(cpu_model.parameters(), cuda_model.parameters(), strict=True):
        torch.testing.assert_close(p_cuda.grad.cpu(), p_cpu.grad, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_trains_the_cnn_on_cuda():
    generator = seed_everything(0, deterministic=True)
    labels = torch.arange(512) % 10
    images = torch.randn(512, 1, 28, 28) * 0.1 + labels.view(-1, 1, 1, 1) / 10  # learnable: brightness = class
    batches = TensorBatches(images, labels, 64, torch.device("cuda"), shuffle=True, generator=generator)
    model = image_model("cnn", 0).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    criterion = loss_function("ce")
    params = train_params(precision="bf16")
    losses = [train_epoch(model, batches, optimizer, criterion, params, epoch)[0] for epoch in range(1, 6)]
    assert losses[-1] < losses[0] and all(map(math.isfinite, losses))
    assert model.conv.weight.dtype == torch.float32


def test_host_pinned_batches_reach_the_gpu_intact():
    inputs, labels = torch.randn(100, 1, 28, 28), torch.arange(100)
    batches = TensorBatches(inputs, labels, 32, torch.device("cuda"), shuffle=True,
                            generator=torch.Generator().manual_seed(0), host_pinned=True)
    assert batches.inputs.is_pinned() and batches.inputs.device.type == "cpu"
    seen = [(x, y) for x, y in batches]
    assert all(x.device.type == "cuda" for x, _ in seen)
    order = torch.cat([y.cpu() for _, y in seen])
    assert sorted(order.tolist()) == list(range(100))
    torch.testing.assert_close(torch.cat([x.cpu() for x, _ in seen]), inputs[order])


def test_image_pipeline_on_cuda(tmp_path):
    project = Project(tmp_path / "repo")
    md5 = write_idx_folder(tmp_path / "mnist", train=200, test=40)
    project.set_params(images__datasets=["mnist"], images__strategies=["none", "weighted_sampler"],
                       data__mnist__sources=[str(tmp_path / "mnist")], data__mnist__raw_md5=md5,
                       train_images__epochs=1, train_images__device="cuda", train_images__precision="bf16")
    project.repro("compare_images@mnist")
    assert project.json("timings/train_images/mnist/weighted_sampler.json")["device"] == "cuda"
    assert project.json("metrics/train_images/mnist/weighted_sampler/metrics.json")["device"] == "cuda"


def graph_and_eager_runs(make_model, make_batches, test_batches, params, criterion, resident=None):
    """Final weights and test accuracy: twice with the graph engine on CUDA, once eager on CPU.

    resident: how the graph engine holds the batches, as the track's run gives it (None: TensorBatches)."""
    runs = []
    for engine, device in (("graph", "cuda"), ("graph", "cuda"), ("eager", "cpu")):
        seed_everything(0, deterministic=True)
        model = make_model().to(device)
        results = list(fit(model, make_batches(torch.device(device)), test_batches(torch.device(device)), params,
                           criterion, criterion, engine, resident=resident))
        runs.append(([p.detach().cpu() for p in model.parameters()], results[-1].test.accuracy))
    return runs


def test_graph_engine_images_match_eager_and_repeat_bit_for_bit():
    labels = torch.arange(1024) % 10
    images = torch.randn(1024, 1, 28, 28) * 0.1 + labels.view(-1, 1, 1, 1) / 10
    params = train_params(section="train_images", batch_size=64, epochs=3, lr=1e-3)
    runs = graph_and_eager_runs(
        lambda: image_model("cnn", 0),
        lambda device: TensorBatches(images[:768], labels[:768], 64, device, shuffle=True,
                                     generator=torch.Generator().manual_seed(0)),
        lambda device: TensorBatches(images[768:], labels[768:], 256, device), params, loss_function("ce"))
    (first, accuracy), (second, again), (_, eager) = runs
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True)) and accuracy == again
    assert abs(accuracy - eager) <= 0.05


def test_graph_engine_imdb_matches_eager_and_repeats_bit_for_bit():
    bags, test = random_bags(1000), random_bags(300, seed=1)
    params = train_params(batch_size=64, epochs=3, lr=0.01)  # 1000 = 15 x 64 + 40: a remainder graph too
    runs = graph_and_eager_runs(
        lambda: OneHotMLP(NUM_FEATURES, 16, "bce", "embedding_bag"),
        lambda device: BagBatches(bags, 64, device, shuffle=True, generator=torch.Generator().manual_seed(0)),
        lambda device: BagBatches(test, 256, device), params, loss_function("bce"), resident_bags)
    (first, accuracy), (second, again), (_, eager) = runs
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True)) and accuracy == again
    assert abs(accuracy - eager) <= 0.05 and accuracy > 0.9


def test_graph_engine_weighted_draws_stay_balanced():
    from reprolab.images.data import sample_weights

    labels = torch.cat([torch.zeros(900), torch.ones(100)]).long()
    batches = TensorBatches(labels, labels, 100, torch.device("cuda"), weights=sample_weights(labels))
    drawn = torch.cat([resident_tensors(batches, torch.Generator(device="cuda").manual_seed(0)).order()
                       for _ in range(10)])
    assert drawn.device.type == "cuda" and abs(labels.cuda()[drawn].float().mean().item() - 0.5) < 0.03


def test_gpu_benchmark_measures_every_figure_with_capture():
    """benchmarks/gpu.py's measurements on tiny data, the graphs captured: a GPU session's benchmark cannot fail late."""
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    try:
        results = gpu_benchmark({"train": random_bags(96), "test": random_bags(40, seed=1)}, NUM_FEATURES, image_data(),
                                train_params(batch_size=32, epochs=2), train_params(optimizer="sgd", batch_size=128),
                                train_params(section="train_images", batch_size=64, epochs=2), torch.device("cuda"))
    finally:
        torch.use_deterministic_algorithms(deterministic[0])
        torch.backends.cudnn.deterministic = deterministic[1]
    assert len(gpu_table(results).splitlines()) == 4 + 12
    assert all(len(values) == 2 for values in results["images"]["seconds_per_1000_images"].values())
