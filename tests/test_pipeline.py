"""The stages under `dvc repro` on a generated archive: outputs, no-op reruns, bad input."""

import hashlib
import json
import subprocess
import sys

import pytest

from conftest import write_imdb_archive
from project import REPO, Project


@pytest.fixture
def project(tmp_path):
    project = Project(tmp_path / "repo")
    project.use_archive(write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz"))
    project.set_params(imdb__vocab_size=8, train_imdb__epochs=2, train_imdb__batch_size=2, train_imdb__device="cpu")
    project.commit("tiny params")
    return project


def test_repro_on_tiny_archive(project):
    first = project.repro("evaluate_imdb")
    assert project.stages_run(first.stdout) == ["fetch_imdb", "tokenize_imdb", "build_vocab", "encode_imdb", "train_imdb", "evaluate_imdb"]
    data = project.json("metrics/imdb_data.json")
    assert data["train"]["reviews"] == 6 and data["test"]["reviews_neg"] == 2 and data["vocab"]["size"] == 8
    training = project.json("metrics/train_imdb/metrics.json")
    assert training["step"] == 1 and "initial_loss" in training and training["device"] == "cpu"
    evaluation = project.json("metrics/evaluate_imdb/metrics.json")
    assert set(evaluation) == {"accuracy", "loss", "perplexity", "macro_f1"}
    # the evaluation stage scores the trained model on the test split as training's last epoch did
    assert evaluation["accuracy"] == training["test"]["accuracy"]
    assert evaluation["loss"] == pytest.approx(training["test"]["loss"], rel=1e-6)
    per_class = project.json("metrics/evaluate_imdb/per_class.json")
    assert set(per_class) == {"neg", "pos", "macro avg"} and evaluation["macro_f1"] == per_class["macro avg"]["f1-score"]
    for png in ("roc.png", "confusion_matrix.png"):
        assert (project.root / "metrics/evaluate_imdb" / png).read_bytes()[:4] == b"\x89PNG"
    assert len(project.json("timings/train_imdb.json")["epoch_seconds"]) == 2
    assert "epoch_seconds" not in json.dumps(training)
    assert project.stages_run(project.repro("evaluate_imdb").stdout) == []
    shown = project.run("dvc", "plots", "show", "--json").stdout
    assert "confusion_matrix" in shown


def test_changing_lr_reruns_only_training(project):
    project.repro("evaluate_imdb")
    project.commit("baseline")
    project.set_params(train_imdb__lr=0.05)
    assert project.stages_run(project.repro("evaluate_imdb").stdout) == ["train_imdb", "evaluate_imdb"]
    diff = project.run("dvc", "params", "diff").stdout
    assert "train_imdb.lr" in diff
    metrics = json.loads(project.run("dvc", "metrics", "diff", "--json").stdout)
    assert metrics["metrics/evaluate_imdb/metrics.json"]["loss"]["diff"] != 0


def test_cuda_without_gpu_is_one_line_and_writes_nothing(project):
    project.repro("encode_imdb")
    project.set_params(train_imdb__device="cuda")
    if __import__("torch").cuda.is_available():
        pytest.skip("a GPU is present")
    result = subprocess.run([sys.executable, "stages/train_imdb.py"], cwd=project.root, env=project.env,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: params.yaml: train_imdb.device is 'cuda' but no CUDA GPU is visible to PyTorch; use 'auto' or 'cpu'"]
    assert not (project.root / "models/imdb_mlp.pt").exists()
    assert not (project.root / "metrics/train_imdb").exists()


def test_bad_param_fails_the_stage_that_reads_it_before_any_work(project):
    """Each stage checks the sections it reads: the data stages run, train_imdb stops before it trains."""
    project.set_params(train_imdb__optimizer="rmsprop")
    result = project.repro("evaluate_imdb", check=False)
    assert result.returncode != 0
    assert "error: params.yaml: train_imdb.optimizer must be one of sgd, adam, got 'rmsprop'" in result.stderr
    assert "Running stage 'encode_imdb'" in result.stdout and "training on" not in result.stdout
    assert not (project.root / "models/imdb_mlp.pt").exists()


def test_corrupt_archive_with_matching_checksum(project, tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b" + b"\0" * 100)
    project.use_archive(broken)
    result = project.repro("evaluate_imdb", check=False)
    assert "data/raw/aclImdb_v1.tar.gz: not a readable IMDB .tar.gz archive" in result.stderr
    assert not (project.root / "data/imdb/tokens").exists()


def test_an_experiment_runs_in_a_fresh_clone_before_anything_is_reproduced(tmp_path):
    """A clone of the last commit has dvc.lock and the committed results but none of the cached outputs; `dvc exp
    run` must not need them (DVC once failed there, after training, reading a top-level plot's cached folder)."""
    clone = Project.clone(REPO, tmp_path / "clone")
    archive = write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz")
    source = f"[{{at:'{archive}',sha256:'{hashlib.sha256(archive.read_bytes()).hexdigest()}'}}]"  # Hydra's syntax
    settings = {"data.imdb.sources": source, "imdb.vocab_size": 8, "train_imdb.epochs": 1, "train_imdb.batch_size": 2,
                "train_imdb.device": "cpu", "train_imdb.optimizer": "sgd", "train_imdb.lr": 0.01}
    clone.run("dvc", "exp", "run", *[arg for key, value in settings.items() for arg in ("-S", f"{key}={value}")],
              "train_imdb")
    assert clone.json("metrics/train_imdb/metrics.json")["step"] == 0
    workspace, baseline = json.loads(clone.run("dvc", "exp", "show", "--json").stdout)
    assert len(baseline["experiments"]) == 1
