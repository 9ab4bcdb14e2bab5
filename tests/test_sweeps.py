"""Sweep helpers, and the whole pipeline (every stage, sweeps and report included) under a bare `dvc repro`."""

import csv
import math
import os

import numpy as np
import torch

from conftest import write_idx_folder, write_imdb_archive
from project import Project
from reprolab.core.parallel import side_by_side
from reprolab.core.params import Evaluate, Imdb, Overfit, Params, Points, Sweeps
from reprolab.imdb.data import Bags
from reprolab.imdb.sweeps import (point_name, point_params, point_workers, subset_bags, sweep_point, train_point,
                                  turn_up_epoch)
from test_models import NUM_FEATURES, random_bags, train_params

METRICS_WIDTH = 120  # `dvc metrics show` on the whole pipeline, in characters (the README states it)


def test_point_names_are_the_values_as_params_yaml_writes_them():
    assert [point_name(v) for v in (1e-08, 0.0001, 0.01, False, 128, "bce")] == ["1e-08", "0.0001", "0.01", "false", "128", "bce"]


def test_point_params_change_one_key():
    base = train_params(optimizer="sgd")
    assert point_params(base, "lr", 0.1).lr == 0.1 and point_params(base, "lr", 0.1).batch_size == base.batch_size
    assert point_params(base, "shuffle", False).shuffle is False
    assert point_params(base, "tokenizer", "split") == base


def test_subsets_first_vs_balanced():
    labels = np.array([1] * 6 + [0] * 6, dtype=np.uint8)
    bags = Bags(ids=np.arange(12, dtype=np.uint16), offsets=np.arange(13), labels=labels)
    first = subset_bags({"train": bags, "test": bags}, "first", 4)
    balanced = subset_bags({"train": bags, "test": bags}, "balanced", 4)
    assert first["test"].labels.tolist() == [1, 1, 1, 1]
    assert sorted(balanced["train"].labels.tolist()) == [0, 0, 1, 1]


def test_points_side_by_side_find_what_they_find_one_after_another():
    """Two worker processes of one thread each give the metrics of one process of all threads, byte for byte."""
    params = Params(imdb=Imdb(tokenizer="split", vocab_size=NUM_FEATURES), evaluate_imdb=Evaluate(batch_size=32),
                    sweeps=Sweeps(base=train_params(optimizer="sgd", lr=0.5, epochs=2), points=Points(), subset_size=8,
                                  overfit=Overfit(reviews=2, epochs=1, optimizer="sgd", lr=0.1)))
    data = ({"train": random_bags(200), "test": random_bags(60, seed=1)}, NUM_FEATURES)
    points = [("lr", lr, params, torch.device("cpu"), data) for lr in (0.1, 0.5, 2.0)]
    alone = [metrics for metrics, _ in side_by_side(sweep_point, points, workers=1)]
    together = list(side_by_side(sweep_point, points, workers=2))
    assert [metrics for metrics, _ in together] == alone
    assert [timing["value"] for _, timing in together] == [0.1, 0.5, 2.0]
    assert len({metrics["test_loss"] for metrics in alone}) == 3


def test_turn_up_epoch():
    assert turn_up_epoch([3.0, 2.0, 1.5, 1.7, 1.9]) == 4
    assert turn_up_epoch([3.0, 2.0, 1.0]) is None


def test_train_point_learns_with_sgd():
    bags = {"train": random_bags(256), "test": random_bags(128, seed=1)}
    first, epochs = train_point(train_params(optimizer="sgd", lr=0.5, epochs=4), bags, NUM_FEATURES,
                                torch.device("cpu"), 64)
    assert abs(first - math.log(2)) < 0.1
    assert epochs[-1].test.accuracy > 0.9


def test_the_initial_loss_reads_the_training_split_in_order_at_the_evaluation_batch_size(monkeypatch):
    """No hidden pass of batch-1 forwards, and no draw from the training order's generator: training comes out the
    same whatever the evaluation batch size."""
    import reprolab.core.train as train

    bags = {"train": random_bags(96), "test": random_bags(32, seed=1)}
    params = train_params(optimizer="sgd", lr=0.5, batch_size=1, epochs=2)
    read = []

    def evaluate(model, batches, *args, **kwargs):
        batches = list(batches)
        read.append(([len(labels) for *_, labels in batches], torch.cat([labels for *_, labels in batches])))
        return original(model, batches, *args, **kwargs)
    original = train.evaluate
    monkeypatch.setattr(train, "evaluate", evaluate)
    _, epochs = train_point(params, bags, NUM_FEATURES, torch.device("cpu"), 32)
    sizes, labels = read[0]
    assert sizes == [32, 32, 32] and labels.tolist() == bags["train"].labels.tolist()
    read.clear()
    _, other = train_point(params, bags, NUM_FEATURES, torch.device("cpu"), 48)
    assert read[0][0] == [48, 48]
    assert [(e.train_loss, e.test.loss) for e in other] == [(e.train_loss, e.test.loss) for e in epochs]


def test_bare_repro_runs_every_stage_including_sweeps_and_report(tmp_path):
    project = Project(tmp_path / "repo")
    project.use_archive(write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz"))
    md5 = write_idx_folder(tmp_path / "mnist", train=200, test=40)
    project.set_params(
        imdb__vocab_size=8, train_imdb__epochs=1, train_imdb__batch_size=2, train_imdb__device="cpu",
        images__datasets=["mnist"], images__strategies=["none", "weighted_sampler"], data__mnist__sources=[str(tmp_path / "mnist")],
        data__mnist__raw_md5=md5, imbalance__fraction=0.5, train_images__epochs=1, train_images__device="cpu",
        benchmark_loader__dataset="mnist", benchmark_loader__num_workers=[0], benchmark_loader__prefetch_factor=[2],
        benchmark_loader__batches=2, benchmark_loader__repeats=1, benchmark_loader__io_delay_ms=0.0,
        benchmark_step__dataset="mnist", benchmark_step__batches=1, benchmark_step__device="cpu",
        sweeps__base__epochs=1, sweeps__base__batch_size=2, sweeps__base__device="cpu", sweeps__points__lr=[0.01, 0.1],
        sweeps__points__batch_size=[2, 4],
        sweeps__subset_size=2, sweeps__overfit={"reviews": 4, "epochs": 3, "optimizer": "adam", "lr": 0.01})
    project.commit("tiny everything")
    ran = project.stages_run(project.repro().stdout)
    assert ran[-1] == "report" and {"sweep@lr", "sweep@shuffle", "overfit_imdb"} <= set(ran)
    report = (project.root / "reports/REPORT.md").read_text()
    for needle in ("sweep of learning rate", "sweep of batch size", "distinct OOV tokens", "initial loss (ln 2",
                   "Overfitting", "mnist: rebalancing strategies", "figures/sweep_lr.png"):
        assert needle in report
    assert "benchmark_loader" not in report and "train seconds" not in report  # timings stay out of the results
    for line in report.splitlines():
        if line.startswith("!["):
            assert (project.root / "reports" / line.split("(")[1].rstrip(")")).is_file()
    tables = [path for folder in ("metrics", "reports", "timings") for path in (project.root / folder).rglob("*.csv")]
    assert len(tables) >= 10
    for path in tables:
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            rows = list(reader)
        assert rows and all(None not in row and None not in row.values() for row in rows), path
    shown = project.run("dvc", "metrics", "show").stdout
    assert "metrics/evaluate_images/mnist/weighted_sampler/metrics.json" in shown and "macro_f1" in shown
    assert max(map(len, shown.splitlines())) <= METRICS_WIDTH, shown
    for figure in ("imdb_training.png", "imdb_roc.png", "imdb_confusion_matrix.png"):
        assert f"figures/{figure}" in report
    subset = project.json("metrics/sweeps/subset/first.json")
    assert subset["reviews"]["test"] == {"total": 2, "positive": 2}
    assert project.stages_run(project.repro().stdout) == []
    project.commit("first run")
    project.set_params(sweeps__points__lr=[0.01, 0.1, 1.0])
    assert project.stages_run(project.repro().stdout) == ["sweep@lr", "sweep_tables", "report"]
    assert project.json("metrics/sweeps/lr/1.0.json")["value"] == 1.0


def test_points_go_side_by_side_only_on_cpu_and_when_each_is_worth_a_process():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert point_workers(cpu, 11, 25_000) == min(11, os.cpu_count())
    assert point_workers(cpu, 11, 200) == 1
    assert point_workers(cuda, 11, 25_000) == 1
