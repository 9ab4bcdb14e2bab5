"""Run-level reproducibility on CPU: clean runs agree byte for byte; an interrupted run leaves nothing and reruns the same."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import write_idx_folder, write_imdb_archive
from project import Project

TARGETS = ("evaluate_imdb", "evaluate_images@mnist")
RESULTS = ("metrics", "models", "data")
TEMP = re.compile(r"^\..*\.tmp$")
EPOCHS = 600  # on six reviews: long enough to interrupt a training run in the middle


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("inputs")
    return {"archive": write_imdb_archive(folder / "aclImdb_v1.tar.gz"),
            "mnist": folder / "mnist", "md5": write_idx_folder(folder / "mnist", train=200, test=40)}


def tiny_project(root: Path, inputs: dict) -> Project:
    project = Project(root)
    project.use_archive(inputs["archive"])
    project.set_params(imdb__vocab_size=8, train_imdb__epochs=EPOCHS, train_imdb__batch_size=2, train_imdb__device="cpu",
                       images__datasets=["mnist"], images__strategies=["weighted_sampler"],
                       data__mnist__sources=[str(inputs["mnist"])], data__mnist__raw_md5=inputs["md5"],
                       imbalance__fraction=0.5, train_images__epochs=2, train_images__batch_size=16,
                       train_images__device="cpu", evaluate_images__batch_size=40)
    project.commit("tiny params")
    return project


def results(project: Project) -> dict[str, bytes]:
    """Every file the pipeline wrote under metrics/, models/ and data/ (timings/ are meant to differ).

    DVC's .gitignore files are left out: a dvc repro that fails takes back the lines it added, even for stages it
    had finished and locked before the failure (README, "When DVC, not reprolab, answers").
    """
    return {str(path.relative_to(project.root)): path.read_bytes()
            for folder in RESULTS for path in sorted((project.root / folder).rglob("*"))
            if path.is_file() and path.name != ".gitignore"}


def temp_files(project: Project) -> list[str]:
    return [str(path.relative_to(project.root)) for folder in RESULTS if (project.root / folder).exists()
            for path in (project.root / folder).rglob("*") if TEMP.match(path.name)]


def interrupted_repro(project: Project, signum: int) -> subprocess.CompletedProcess:
    """dvc repro, sent signum (to DVC and the stage, as Ctrl-C or a kill would) once train_imdb has logged an epoch."""
    # a job a shell started in the background ignores SIGINT, and its children inherit that: a user's Ctrl-C does not
    process = subprocess.Popen(["dvc", "repro", *TARGETS], cwd=project.root, env=project.env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    # an epoch logged: past start-up, into the loop a user would interrupt
    while not list((project.root / "metrics").glob(".train_imdb.*.tmp/plots/metrics/train/loss.tsv")):
        assert process.poll() is None and time.monotonic() < deadline, "train_imdb never started training"
        time.sleep(0.02)
    os.killpg(process.pid, signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, inputs) -> dict[str, bytes]:
    project = tiny_project(tmp_path_factory.mktemp("clean") / "repo", inputs)
    project.repro(*TARGETS)
    return results(project)


def test_two_clean_runs_give_identical_files(tmp_path, inputs, clean_run):
    project = tiny_project(tmp_path / "repo", inputs)
    project.repro(*TARGETS)
    assert {"metrics/train_imdb/metrics.json", "models/imdb_mlp.pt",
            "metrics/evaluate_images/mnist/weighted_sampler/metrics.json"} <= set(clean_run)
    assert results(project) == clean_run


def test_interrupted_runs_leave_nothing_and_the_rerun_matches(tmp_path, inputs, clean_run):
    project = tiny_project(tmp_path / "repo", inputs)
    stopped = interrupted_repro(project, signal.SIGINT)
    assert stopped.returncode != 0 and "error: interrupted; nothing was written" in stopped.stderr
    assert temp_files(project) == []
    assert not (project.root / "models/imdb_mlp.pt").exists() and not (project.root / "metrics/train_imdb").exists()
    assert "train_imdb" not in yaml.safe_load((project.root / "dvc.lock").read_text())["stages"]

    killed = interrupted_repro(project, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert temp_files(project)  # what a kill leaves: the next run of the stage removes it
    project.repro(*TARGETS)
    assert temp_files(project) == []
    assert results(project) == clean_run
