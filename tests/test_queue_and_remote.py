"""DVC's own engines for scaling out: queued experiments run by parallel workers, and a shared remote."""

import json
import subprocess
import time

import pytest

from conftest import write_imdb_archive
from project import Project

TARGET = "evaluate_imdb"
METRICS = "metrics/evaluate_imdb/metrics.json"
QUEUE_TIMEOUT = 300
STATES = ("Queued", "Running", "Success", "Failed")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """A tiny IMDB project whose pipeline ran and was committed, as a user's main branch would be."""
    root = tmp_path_factory.mktemp("team")
    project = Project(root / "repo")
    project.use_archive(write_imdb_archive(root / "aclImdb_v1.tar.gz"))
    project.set_params(imdb__vocab_size=8, train_imdb__epochs=3, train_imdb__batch_size=2, train_imdb__device="cpu")
    project.repro(TARGET)
    project.commit("tiny run")
    return project


def queue_status(project: Project) -> dict[str, tuple[str, str]]:
    """Each task dvc queue status lists: its experiment's name and its state, by task id."""
    rows = map(str.split, project.run("dvc", "queue", "status").stdout.splitlines())
    return {row[0]: (row[1], row[-1]) for row in rows if row and row[-1] in STATES}


def run_queue(project: Project, rates: dict[str, float], workers: int) -> dict[str, str]:
    """Queue one experiment per named learning rate and run the queue with `workers` workers: each one's end state."""
    earlier = queue_status(project).keys()
    for name, lr in rates.items():
        project.run("dvc", "exp", "run", "--queue", "-S", f"train_imdb.lr={lr}", "-n", name, TARGET)
    # the workers outlive `dvc queue start`: their output must not hold the test's pipes open
    subprocess.run(["dvc", "queue", "start", "-j", str(workers)], cwd=project.root, env=project.env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + QUEUE_TIMEOUT
    while True:
        states = dict(row for task, row in queue_status(project).items() if task not in earlier)
        if not {"Queued", "Running"} & set(states.values()):
            return states
        assert time.monotonic() < deadline, f"the queue did not finish: {states}"
        time.sleep(1)


def rerun_points_dvc_lost(project: Project, rates: dict[str, float], states: dict[str, str]) -> dict[str, str]:
    """Queue again, once, the failed points that have no logs: DVC's parallel workers failed them before any stage
    ran (their open race, treeverse/dvc#10673); a point whose pipeline failed has logs and stays failed."""
    lost = {name: lr for name, lr in rates.items()
            if states[name] == "Failed" and project.run("dvc", "queue", "logs", name, check=False).returncode}
    return states | run_queue(project, lost, workers=1) if lost else states


def experiment_metrics(project: Project) -> dict[str, dict]:
    """Each experiment's evaluation metrics, by name, from dvc exp show."""
    shown = json.loads(project.run("dvc", "exp", "show", "--json").stdout)
    return {rev["name"]: rev["data"]["metrics"][METRICS]["data"]
            for commit in shown for experiment in commit.get("experiments") or [] for rev in experiment["revs"]}


def test_queued_points_run_in_parallel_and_equal_each_point_run_alone(project):
    rates = {"lr-small": 0.001, "lr-big": 0.01}
    states = rerun_points_dvc_lost(project, rates, run_queue(project, rates, workers=2))
    assert states == {name: "Success" for name in rates}, "\n".join([str(states)] + [
        project.run("dvc", "queue", "logs", name, check=False).stdout for name in rates])
    queued = experiment_metrics(project)
    assert queued["lr-small"] != queued["lr-big"]
    diff = project.run("dvc", "exp", "diff", "lr-small", "lr-big").stdout
    assert "train_imdb.lr" in diff and "accuracy" in diff
    for name, lr in rates.items():
        project.run("dvc", "exp", "run", "-S", f"train_imdb.lr={lr}", TARGET)
        assert project.json(METRICS) == queued[name], name
    project.run("git", "checkout", "--", ".")  # the workspace as committed: params, lock, metrics and timings
    project.run("dvc", "checkout", "--with-deps", TARGET)


def test_a_fresh_clone_pulls_the_results_and_recomputes_nothing(project, tmp_path):
    project.run("dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    project.commit("a shared remote")
    project.run("dvc", "push")
    pushed = project.run("git", "rev-parse", "HEAD").stdout.strip()
    clone = Project.clone(project, tmp_path / "clone")
    clone.run("dvc", "pull", "--with-deps", TARGET)  # the stages this tiny project ran
    assert "up to date" in clone.run("dvc", "status", "--with-deps", TARGET).stdout
    assert clone.stages_run(clone.repro(TARGET).stdout) == []
    assert clone.run("dvc", "metrics", "diff", pushed).stdout.strip() == ""
    assert (clone.root / "models/imdb_mlp.pt").read_bytes() == (project.root / "models/imdb_mlp.pt").read_bytes()
