"""Engines: the choice of engine, and the resident step that the graph engine captures, checked eagerly on CPU.

CUDA graphs exist only on CUDA, so capture itself is checked by the -m gpu tests (test_gpu.py); here a stand-in for
torch.cuda's streams and graphs runs the capture code's warm-up, capture and undo on CPU.
"""

import contextlib

import pytest
import torch

from reprolab.core.batches import TensorBatches
from reprolab.core.engines import ResidentTrainer, resident_tensors, resolve_engine, train_epoch
from reprolab.core.errors import UserError
from reprolab.core.optim import make_optimizer
from reprolab.core.train import loss_function
from reprolab.images.data import sample_weights
from reprolab.images.models import SimpleCNN
from reprolab.imdb.batches import BagBatches, padded_bags
from reprolab.imdb.training import resident_bags
from reprolab.imdb.models import OneHotMLP
from test_models import NUM_FEATURES, random_bags, train_params

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_means_graph_on_cuda_and_eager_elsewhere():
    assert resolve_engine("auto", CPU, True, "train_imdb.engine") == "eager"
    assert resolve_engine("auto", CUDA, True, "train_imdb.engine") == "graph"
    assert resolve_engine("auto", CUDA, False, "train_imdb.engine") == "eager"  # sequences of varying length
    assert resolve_engine("eager", CUDA, True, "train_imdb.engine") == "eager"


def test_graph_without_cuda_or_with_a_varying_shape_model_is_one_line():
    with pytest.raises(UserError, match=r"params.yaml: train_images.engine is 'graph' but training runs on cpu: "
                                        r"CUDA graphs need a CUDA GPU; use 'auto' or 'eager'"):
        resolve_engine("graph", CPU, True, "train_images.engine")
    with pytest.raises(UserError, match="train_imdb.engine is 'graph' but this model reads batches of varying shape"):
        resolve_engine("graph", CUDA, False, "train_imdb.engine")


def test_padded_bags_hold_each_bag_then_padding():
    ids, offsets = torch.tensor([4, 7, 9, 1, 2]), torch.tensor([0, 3, 3, 5])  # the middle bag is empty
    assert padded_bags(ids, offsets, pad=-1).tolist() == [[4, 7, 9], [-1, -1, -1], [1, 2, -1]]


def held(batches, generator: torch.Generator):
    """The split as fit() hands it to the graph engine: the IMDB track's adapter for bags, else the tensors'."""
    return (resident_bags if isinstance(batches, BagBatches) else resident_tensors)(batches, generator)


def assert_resident_equals_eager(make_model, make_batches, params, criterion, seed: int, rel: float) -> None:
    """Two epochs eagerly and two with the resident step (uncaptured), from the same weights and order."""
    runs = []
    for resident in (False, True):
        torch.manual_seed(0)
        model = make_model()
        optimizer = make_optimizer(model, params)
        batches = make_batches(torch.Generator().manual_seed(seed))
        if resident:
            trainer = ResidentTrainer(model, optimizer, criterion, held(batches, torch.Generator().manual_seed(seed)),
                                      params, capture=False)
            results = [trainer.epoch(epoch) for epoch in (1, 2)]
        else:
            results = [train_epoch(model, batches, optimizer, criterion, params, epoch) for epoch in (1, 2)]
        runs.append((results, [p.detach().clone() for p in model.parameters()]))
    (eager, eager_weights), (resident, resident_weights) = runs
    for (loss_a, acc_a), (loss_b, acc_b) in zip(eager, resident, strict=True):
        assert loss_b == pytest.approx(loss_a, rel=rel) and acc_a == acc_b
    for a, b in zip(eager_weights, resident_weights, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_resident_image_steps_equal_eager_steps(weighted):
    labels = torch.arange(200) % 10
    labels[labels == 3] = 4  # one class missing, one doubled: the weights matter
    images = torch.randn(200, 1, 28, 28)
    weights = sample_weights(labels) if weighted else None
    assert_resident_equals_eager(
        SimpleCNN, lambda generator: TensorBatches(images, labels, 32, CPU, shuffle=True, generator=generator,
                                                   weights=weights),
        train_params(section="train_images", batch_size=32, epochs=2), loss_function("ce"), seed=1, rel=1e-6)


@pytest.mark.parametrize("head", ["bce", "ce"])
def test_resident_one_hot_steps_equal_the_dense_eager_model(head):
    """The graph engine's IMDB step: bags padded, scattered into a one-hot buffer, one matmul."""
    bags = random_bags(100)
    assert_resident_equals_eager(
        lambda: OneHotMLP(NUM_FEATURES, 16, head, "dense"),
        lambda generator: BagBatches(bags, 16, CPU, shuffle=True, generator=generator),
        train_params(head=head, batch_size=16, epochs=2, grad_clip=1.0), loss_function(head), seed=2, rel=1e-5)


def test_resident_divergence_names_the_first_bad_batch():
    bags = random_bags(64)
    params = train_params(optimizer="sgd", lr=1e30, batch_size=16)
    model = OneHotMLP(NUM_FEATURES, 16, "bce", "dense")
    batches = BagBatches(bags, 16, CPU, shuffle=True, generator=torch.Generator().manual_seed(0))
    trainer = ResidentTrainer(model, make_optimizer(model, params), loss_function("bce"),
                              held(batches, torch.Generator().manual_seed(0)), params, capture=False)
    with pytest.raises(UserError, match=r"train_imdb: training diverged: loss is nan at epoch 1, batch \d of 4"):
        trainer.epoch(1)


class _FakeStream:
    def wait_stream(self, other: "_FakeStream") -> None:
        pass


class _FakeGraph:
    """torch.cuda.CUDAGraph on CPU: capture runs the step once (as a real capture would not), replay runs it again."""

    trainer: ResidentTrainer | None = None

    def __init__(self):
        self.rows: torch.Tensor | None = None

    def replay(self) -> None:
        # a real replay's backward writes fresh gradients: the captured ones were set to None before capture
        self.trainer.optimizer.zero_grad()
        self.trainer._step(self.rows)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_capture_leaves_the_model_and_optimizer_as_fresh_so_replays_train_as_eager_steps_do(monkeypatch, optimizer):
    """The warm-up steps and the capture's own step are undone: weights restored, optimizer state zeroed."""
    graphs = []

    @contextlib.contextmanager
    def capturing(graph):
        graphs.append(graph)
        yield

    monkeypatch.setattr(torch.cuda, "Stream", _FakeStream)
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", _FakeStream)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", _FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", capturing)
    bags = random_bags(100)
    params = train_params(optimizer=optimizer, lr=0.01, batch_size=16, epochs=2)
    runs = []
    for capture in (False, True):
        torch.manual_seed(0)
        model = OneHotMLP(NUM_FEATURES, 16, "bce", "dense")
        batches = BagBatches(bags, 16, CPU, shuffle=True, generator=torch.Generator().manual_seed(3))
        _FakeGraph.trainer = trainer = ResidentTrainer(model, make_optimizer(model, params), loss_function("bce"),
                                                       held(batches, torch.Generator().manual_seed(3)), params, capture)
        for step in trainer.steps.values():
            if step.graph is not None:
                step.graph.rows = step.rows
        runs.append(([trainer.epoch(epoch) for epoch in (1, 2)], [p.detach().clone() for p in model.parameters()]))
    assert len(graphs) == 2  # batches of 16 and the last, shorter one of 4
    (eager, eager_weights), (replayed, replayed_weights) = runs
    assert replayed == eager
    for a, b in zip(eager_weights, replayed_weights, strict=True):
        assert torch.equal(a, b)
