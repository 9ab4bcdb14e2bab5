"""The benchmark helpers, and both benchmark stages under `dvc repro` on tiny generated data."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import write_idx_folder, write_imdb_archive
from project import Project
from reprolab.speed.measure import (PHASES, InMemoryDataset, IOBoundDataset, LoaderConfig, autograd_forward,
                                    batches_per_second, loader_configs, step_breakdown, summarize,
                                    training_forward)


def test_loader_configs_sweep_workers_then_one_flag_at_a_time():
    configs = loader_configs([0, 2], [2, 4])
    names = [config.name for config in configs]
    assert names[:3] == ["workers=0", "workers=2 prefetch=2", "workers=2 prefetch=4"]
    assert "workers=2 prefetch=2 pin_memory persistent drop_last" in names
    assert configs[0].prefetch_factor is None  # DataLoader refuses a prefetch_factor without workers


def test_io_bound_dataset_sleeps_per_item(monkeypatch):
    slept = []
    monkeypatch.setattr("reprolab.speed.measure.time.sleep", slept.append)
    dataset = IOBoundDataset(num_samples=20, feature_size=4, delay_seconds=0.01)
    for i in range(len(dataset)):
        dataset[i]
    assert slept == [0.01] * 20


def fake_clock(monkeypatch, steps: list[float]) -> None:
    """time.perf_counter in reprolab.speed.measure moves on by steps[0], steps[1], ... cyclically, one per call."""
    now, calls = [0.0], [0]

    def perf_counter() -> float:
        now[0] += steps[calls[0] % len(steps)]
        calls[0] += 1
        return now[0]

    monkeypatch.setattr("reprolab.speed.measure.time.perf_counter", perf_counter)


def test_batches_per_second_counts_fresh_epochs(monkeypatch):
    loader = LoaderConfig().loader(InMemoryDataset(torch.zeros(50, 3), torch.zeros(50)), batch_size=10, seed=0)
    fake_clock(monkeypatch, [2.0])  # the whole measurement takes 2 s
    assert batches_per_second(lambda: loader, batches=3, epochs=2) == 3  # 3 batches in each of 2 epochs, in 2 s
    assert summarize([3.0, 1.0, 2.0]) == {"min": 1.0, "median": 2.0, "max": 3.0}


def test_step_breakdown_times_every_phase_and_trains(monkeypatch):
    model = torch.nn.Linear(4, 1)
    before = model.weight.detach().clone()
    batches = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(6)]
    fake_clock(monkeypatch, [10.0, 0.001, 0.002, 0.003, 0.004])  # each step: fetch 1 ms, copy 2, forward 3, backward 4
    forward = autograd_forward(lambda b: torch.nn.functional.mse_loss(model(b[0]), b[1]),
                               torch.optim.SGD(model.parameters(), lr=0.1))
    times = step_breakdown(batches, lambda b: b, forward, torch.device("cpu"), limit=3)
    assert times == pytest.approx(dict(zip(PHASES, [1.0, 2.0, 3.0, 4.0])))
    assert not torch.equal(model.weight, before)



def test_the_step_benchmark_times_the_sparse_sgd_step_that_training_takes():
    """training_forward's steps leave the same weights, bit for bit, as an epoch of training with plain SGD."""
    from reprolab.imdb.batches import BagBatches
    from reprolab.core.engines import train_epoch
    from reprolab.core.optim import make_optimizer
    from reprolab.imdb.models import OneHotMLP
    from reprolab.core.train import loss_function
    from test_models import NUM_FEATURES, random_bags, train_params

    bags, params, criterion = random_bags(64), train_params(optimizer="sgd", lr=0.01, batch_size=16), loss_function("bce")
    models = []
    for benchmarked in (True, False):
        torch.manual_seed(0)
        model = OneHotMLP(NUM_FEATURES, 16, "bce", "embedding_bag", sparse=True)
        batches = BagBatches(bags, 16, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(0))
        if benchmarked:
            step_breakdown(batches, lambda b: b, training_forward(model, criterion, params), torch.device("cpu"),
                           limit=4, warmup=0)
        else:
            train_epoch(model, batches, make_optimizer(model, params), criterion, params, epoch=1)
        models.append(model)
    for a, b in zip(*(model.parameters() for model in models), strict=True):
        assert torch.equal(a, b)

def test_benchmark_stages_on_tiny_data(tmp_path):
    project = Project(tmp_path / "repo")
    project.use_archive(write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz"))
    md5 = write_idx_folder(tmp_path / "mnist", train=400, test=40)
    project.set_params(imdb__vocab_size=8, images__datasets=["mnist"], data__mnist__sources=[str(tmp_path / "mnist")],
                       data__mnist__raw_md5=md5, benchmark_loader__dataset="mnist", benchmark_loader__num_workers=[0, 1],
                       benchmark_loader__prefetch_factor=[2], benchmark_loader__batches=2, benchmark_loader__repeats=1,
                       benchmark_loader__batch_size=8, benchmark_loader__io_delay_ms=0.1,
                       benchmark_step__dataset="mnist", benchmark_step__batches=2, benchmark_step__device="cpu")
    project.repro("benchmark_loader", "benchmark_step")
    loader = project.json("timings/benchmark_loader/results.json")
    assert set(loader["results"]) == {"synthetic_io", "mnist"} and "reprolab TensorBatches" in loader["results"]["mnist"]
    assert (project.root / "timings/benchmark_loader/synthetic_io.csv").read_text().startswith("loader,batches_per_s\n")
    step = project.json("timings/benchmark_step/results.json")
    assert step["device"] == "cpu" and len(step["ms_per_batch"]["imdb"]) == 3 and len(step["ms_per_batch"]["images"]) == 2
    assert (project.root / "timings/benchmark_step/step.png").read_bytes()[:4] == b"\x89PNG"
    shown = project.run("dvc", "metrics", "show", "--json").stdout
    assert "benchmark" not in shown  # timings stay out of `dvc metrics`


def test_every_benchmark_script_imports_what_it_names():
    """Benchmarks run by hand, so no stage notices when a refactor moves what one imports."""
    # course_imdb.py is the course's code as a script: it runs on import, and imports nothing of reprolab
    scripts = [str(path) for path in sorted((Path(__file__).parents[1] / "benchmarks").glob("*.py"))
               if path.name != "course_imdb.py"]
    code = ("import importlib.util, sys\nfor path in sys.argv[1:]:\n"
            "    spec = importlib.util.spec_from_file_location('benchmark', path)\n"
            "    spec.loader.exec_module(importlib.util.module_from_spec(spec))")
    imported = subprocess.run([sys.executable, "-c", code, *scripts], capture_output=True, text=True)
    assert len(scripts) >= 7 and imported.returncode == 0, imported.stderr
