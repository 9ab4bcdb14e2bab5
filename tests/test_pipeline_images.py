"""The image stages under `dvc repro` on generated MNIST IDX files: outputs, reruns, bad input."""

import json
import sys

import pytest

from conftest import write_idx_folder
from project import Project

FINAL = ("compare_images@mnist", "batch_composition@mnist")


@pytest.fixture
def project(tmp_path):
    project = Project(tmp_path / "repo")
    md5 = write_idx_folder(tmp_path / "mnist", train=400, test=60)
    project.set_params(images__datasets=["mnist"], data__mnist__sources=[str(tmp_path / "mnist")],
                       data__mnist__raw_md5=md5, imbalance__fraction=0.25, train_images__epochs=1,
                       train_images__batch_size=16, train_images__device="cpu", evaluate_images__batch_size=32)
    project.commit("tiny image params")
    return project


def test_image_track_on_generated_mnist(project):
    first = project.repro(*FINAL)
    ran = project.stages_run(first.stdout)
    assert ran[:2] == ["fetch_images@mnist", "imbalance@mnist"] and ran[-1] in FINAL
    assert "train_images@mnist" in ran
    kept = project.json("metrics/imbalance/mnist/metrics.json")
    assert kept["train_samples"] == 400 and kept["kept_per_class"]["1 - one"] == 10 and kept["kept_samples"] == 340
    evaluation = project.json("metrics/evaluate_images/mnist/weighted_sampler/metrics.json")
    assert set(evaluation) == {"accuracy", "loss", "perplexity", "macro_f1"}
    trained = project.json("metrics/train_images/mnist/weighted_sampler/metrics.json")
    assert evaluation["accuracy"] == trained["test"]["accuracy"]  # the same model on the same test split
    per_class = project.json("reports/evaluate_images/mnist/weighted_sampler/per_class.json")
    assert "1 - one" in per_class and evaluation["macro_f1"] == per_class["macro avg"]["f1-score"]
    comparison = project.json("metrics/compare_images/mnist/metrics.json")
    assert list(comparison) == ["none", "weighted_sampler", "class_weights", "undersample"]
    assert set(comparison["none"]["minority_recall"]) == {"1 - one", "2 - two"}
    table = (project.root / "metrics/compare_images/mnist/table.md").read_text()
    assert "| weighted_sampler |" in table and "recall 2 - two" in table
    for png in ("metrics/imbalance/mnist/classes.png", "metrics/batch_composition/mnist/composition.png",
                "metrics/compare_images/mnist/recall.png", "reports/evaluate_images/mnist/none/confusion_matrix.png"):
        assert (project.root / png).read_bytes()[:4] == b"\x89PNG"
    training = project.json("timings/train_images/mnist/undersample.json")
    assert training["device"] == "cpu" and len(training["epoch_seconds"]) == 1 and training["cpu_threads"] == 1
    assert (project.root / "metrics/train_images_curves/mnist/class_weights/metrics/test/loss.tsv").is_file()
    assert project.stages_run(project.repro(*FINAL).stdout) == []
    shown = json.loads(project.run("dvc", "metrics", "show", "--json").stdout)
    assert "metrics/evaluate_images/mnist/undersample/metrics.json" in json.dumps(shown)
    plots = json.loads(project.run("dvc", "plots", "show", "--json").stdout)
    # only the image track ran, so the other tracks' plot files and folders are missing (DVC calls a missing folder
    # a file type error); nothing that exists may fail to load
    assert not [error for error in plots.get("errors", []) if (project.root / error["source"]).exists()]
    assert {"metrics/batch_composition/mnist/none.csv", "metrics/train_images_curves/mnist/undersample/metrics/train/accuracy.tsv",
            "metrics/evaluate_images_confusion/mnist/none.json"} <= set(plots["data"])


SIDE_BY_SIDE = """
import torch
from pathlib import Path
from reprolab.core.parallel import side_by_side
from reprolab.core.params import load_params
from reprolab.images.training import THREADS, Outputs, train_strategy

params = load_params("data", "images", "train_images", "evaluate_images")
for workers in (1, 2):
    out = Outputs(*(Path(f"runs/{workers}/{folder}") for folder in ("models", "metrics", "curves", "timings")))
    for folder in vars(out).values():
        folder.mkdir(parents=True)
    runs = [("mnist", strategy, params, torch.device("cpu"), "eager", out) for strategy in params.images.strategies]
    list(side_by_side(train_strategy, runs, workers, THREADS))
"""


def test_strategies_side_by_side_give_the_bytes_of_one_after_another(project):
    project.repro("imbalance@mnist")
    project.run(sys.executable, "-c", SIDE_BY_SIDE)
    runs = [project.root / "runs" / workers for workers in ("1", "2")]
    files = [{path.relative_to(run): path.read_bytes() for path in run.rglob("*")
              if path.is_file() and "timings" not in path.parts} for run in runs]
    assert len(files[0]) == 4 * 8 and files[0] == files[1]  # per strategy: checkpoint, metrics.json, 6 curves


def test_a_strategy_list_change_reruns_the_dataset_and_leaves_unchanged_strategies_alike(project):
    """The strategies of a dataset train and are evaluated in one stage each, so a shorter list reruns the others:
    to the same bytes."""
    project.repro(*FINAL)
    project.commit("baseline")
    kept = [f"{folder}/mnist/none/metrics.json" for folder in ("metrics/train_images", "metrics/evaluate_images")]
    before = {path: (project.root / path).read_bytes() for path in kept}
    project.set_params(images__strategies=["none", "weighted_sampler"])
    assert project.stages_run(project.repro(*FINAL).stdout) == ["train_images@mnist", "evaluate_images@mnist",
                                                                 "compare_images@mnist"]
    assert sorted(path.name for path in (project.root / "models/images/mnist").iterdir()) == ["none.pt", "weighted_sampler.pt"]
    assert sorted(path.name for path in (project.root / "metrics/evaluate_images/mnist").iterdir()) == ["none", "weighted_sampler"]
    assert {path: (project.root / path).read_bytes() for path in kept} == before


def test_a_failed_strategy_leaves_no_output_of_any_strategy(project):
    """Training stages its outputs and moves them in once every strategy has trained; DVC removed the old ones."""
    project.repro("train_images@mnist")
    project.commit("trained")
    lock = (project.root / "dvc.lock").read_text()
    timings = {path: path.read_bytes() for path in (project.root / "timings/train_images/mnist").iterdir()}
    project.set_params(train_images__optimizer="sgd", train_images__lr=1e6)
    result = project.repro("train_images@mnist", check=False)
    assert result.returncode != 0 and "error: train_images: training diverged" in result.stderr
    for output in ("models/images/mnist", "metrics/train_images/mnist", "metrics/train_images_curves/mnist"):
        assert not (project.root / output).exists(), output
    # timings are the last finished run's log, not a DVC output: the failed run leaves them as they were
    assert {path: path.read_bytes() for path in (project.root / "timings/train_images/mnist").iterdir()} == timings
    assert not list(project.root.rglob("*.tmp"))
    assert (project.root / "dvc.lock").read_text() == lock


def test_corrupt_idx_file_is_one_line_and_writes_nothing(project, tmp_path):
    path = tmp_path / "mnist/train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    result = project.repro("fetch_images@mnist", check=False)
    assert result.returncode != 0
    assert f"error: {path}: corrupt or truncated gzip data" in result.stderr
    assert not (project.root / "data/images/mnist.pt").exists()


def test_unknown_class_id_fails_the_stage_that_reads_it_before_work(project):
    project.set_params(imbalance__classes=[1, 12])
    result = project.repro("imbalance@mnist", check=False)
    assert "error: params.yaml: imbalance.classes must be a non-empty list of distinct class ids from 0 to 9, got [1, 12]" in result.stderr
    assert (project.root / "data/images/mnist.pt").exists() and not (project.root / "data/images/mnist-kept.pt").exists()
