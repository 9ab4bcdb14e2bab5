"""Data-parallel training: each process's share of the data on CPU, and real torchrun jobs (gloo, 2 processes)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml

from conftest import REVIEWS, write_idx_folder, write_imdb_archive
from project import Project
from reprolab.core.batches import TensorBatches
from reprolab.core.distributed import Shard, worker_error
from reprolab.core.engines import resolve_engine
from reprolab.core.errors import UserError
from reprolab.images.data import sample_weights
from reprolab.imdb.batches import BagBatches, SequenceBatches
from reprolab.imdb.models import imdb_config
from test_models import random_bags, train_params

TWO = (Shard(0, 2), Shard(1, 2))
JOB_TIMEOUT = 120  # a job that hangs fails the test instead


def batch_rows(batches) -> list[list[int]]:
    """Each batch's row numbers, read back from labels that hold them."""
    return [sorted(labels.tolist()) for *_, labels in batches]


@pytest.mark.parametrize("count", [40, 37, 33])  # even batches, an uneven last one, a last one of one row
def test_each_process_takes_its_share_of_every_batch(count):
    rows = torch.arange(count)

    def make(shard: Shard) -> TensorBatches:
        return TensorBatches(rows.float().unsqueeze(1), rows, 8, torch.device("cpu"), shuffle=True,
                             generator=torch.Generator().manual_seed(3), shard=shard)

    single = batch_rows(make(Shard()))
    ranks = [batch_rows(make(shard)) for shard in TWO]
    assert len(ranks[0]) == len(ranks[1]) == len(single)  # DDP's steps line up
    assert [sorted(a + b) for a, b in zip(*ranks, strict=True)] == single
    assert [len(a) for a in ranks[0]][:-1] == [4] * (len(single) - 1)


def test_bag_and_sequence_batches_split_the_same_way():
    bags = random_bags(37)
    bags.labels[:] = 0
    for kind in (BagBatches, SequenceBatches):
        def sizes(shard: Shard) -> list[int]:
            batches = kind(bags, 8, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(0),
                           shard=shard)
            return [len(labels) for *_, labels in batches]

        single, (first, second) = sizes(Shard()), [sizes(shard) for shard in TWO]
        assert len(first) == len(second) == len(single)
        assert [a + b for a, b in zip(first, second, strict=True)] == single


def test_ranks_draw_weighted_samples_apart_with_the_single_process_class_proportions():
    labels = torch.cat([torch.zeros(9000, dtype=torch.int64), torch.ones(600, dtype=torch.int64),
                        torch.full((400,), 2, dtype=torch.int64)])
    weights = sample_weights(labels)

    def draws(shard: Shard) -> torch.Tensor:
        batches = TensorBatches(labels.unsqueeze(1).float(), labels, 100, torch.device("cpu"),
                                generator=torch.Generator().manual_seed(0), weights=weights, shard=shard)
        return torch.cat([batch_labels for _, batch_labels in batches])

    single = draws(Shard())
    first, second = (draws(shard) for shard in TWO)
    assert len(first) + len(second) == len(single) == len(labels)
    assert not torch.equal(first, second)  # each rank its own generator
    union = torch.bincount(torch.cat([first, second]), minlength=3) / len(labels)
    alone = torch.bincount(single, minlength=3) / len(labels)
    assert torch.allclose(union, alone, atol=0.02)
    assert torch.allclose(union, torch.full((3,), 1 / 3), atol=0.02)  # the sampler's point: classes come up equally


def test_several_processes_train_eagerly_with_dense_gradients():
    cuda = torch.device("cuda")
    assert resolve_engine("auto", cuda, True, "train_images.engine", processes=2) == "eager"
    with pytest.raises(UserError, match="train_images.engine is 'graph' but training runs in 2 processes"):
        resolve_engine("graph", cuda, True, "train_images.engine", processes=2)
    sgd = train_params(optimizer="sgd")
    assert imdb_config(sgd, 10)["sparse"] and not imdb_config(sgd, 10, processes=2)["sparse"]


def test_the_failing_rank_is_the_one_line_not_the_ranks_torchrun_stopped():
    stderr = ("error: rank 0: terminated; nothing was written\nW1123 torch/distributed/elastic ... SIGTERM\n"
              "error: rank 1: data/images/mnist-kept.pt: unreadable list of kept images\nTraceback ...\n")
    assert worker_error(stderr, 1) == "rank 1: data/images/mnist-kept.pt: unreadable list of kept images"
    assert worker_error("ChildFailedError\n", 1) == "torchrun failed with status 1: ChildFailedError"


TORCHRUN_REPORT = """\
error: rank 0: terminated; nothing was written
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
stages/train_imdb.py FAILED
------------------------------------------------------------
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : 143 (pid: 13804)
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-30_03:37:22
  rank      : 1 (local_rank: 1)
  exitcode  : {exitcode}
  error_file: <N/A>
  traceback : {traceback}
============================================================
"""


def test_a_rank_that_died_without_a_word_is_named_with_its_signal():
    """torchrun 2.14's report, as a rank killed by the OOM killer leaves it: the rank and the signal, in one line."""
    killed = TORCHRUN_REPORT.format(exitcode="-9 (pid: 13805)  (SIGKILL)", traceback="Signal 9 (SIGKILL) received")
    assert worker_error(killed, 1) == "rank 1 was killed by SIGKILL; torchrun stopped the others; nothing was written"
    crashed = TORCHRUN_REPORT.format(exitcode="134 (pid: 13805)", traceback="To enable traceback see: ...")
    assert worker_error(crashed, 1) == "rank 1 exited with status 134; torchrun stopped the others; nothing was written"


# --- real jobs: torchrun, gloo, two processes, tiny data --------------------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """A tiny project whose encoded reviews and kept images are ready, so each test runs training stages only."""
    inputs = tmp_path_factory.mktemp("inputs")
    md5 = write_idx_folder(inputs / "mnist", train=201, test=40)  # 181 kept: batches end unevenly
    project = Project(tmp_path_factory.mktemp("ddp") / "repo")
    seven = {**REVIEWS, ("train", "pos", 3, 8): "great cast, great fun"}
    project.use_archive(write_imdb_archive(inputs / "aclImdb_v1.tar.gz", seven))
    project.set_params(imdb__vocab_size=8, train_imdb__epochs=4, train_imdb__batch_size=6, train_imdb__device="cpu",
                       train_imdb__optimizer="sgd", train_imdb__lr=0.5,
                       images__datasets=["mnist"], images__strategies=["none"],
                       data__mnist__sources=[str(inputs / "mnist")], data__mnist__raw_md5=md5, imbalance__fraction=0.5,
                       train_images__model="mlp", train_images__hidden=16, train_images__epochs=2,
                       train_images__batch_size=34, train_images__device="cpu", evaluate_images__batch_size=40)
    project.commit("tiny params")
    project.repro("encode_imdb", "imbalance@mnist")
    return project


def set_params(project: Project, **params) -> None:
    project.run("git", "checkout", "params.yaml")
    project.set_params(**params)


def train(project: Project, stage: str, *args: str, **params) -> dict:
    """Run a training stage with params set; its metrics and checkpoint."""
    set_params(project, **params)
    project.run(sys.executable, f"stages/{stage}.py", *args)
    folder, model = ("train_imdb", "models/imdb_mlp.pt") if stage == "train_imdb" else \
        ("train_images/mnist/none", "models/images/mnist/none.pt")
    return {"metrics": project.json(f"metrics/{folder}/metrics.json"),
            "weights": torch.load(project.root / model, weights_only=True)["state_dict"]}


def assert_same_run(one: dict, two: dict, tolerance: float) -> None:
    for split in ("train", "test"):
        for key in ("loss", "accuracy"):
            assert two["metrics"][split][key] == pytest.approx(one["metrics"][split][key], abs=tolerance), (split, key)
    for name, weight in one["weights"].items():
        assert torch.allclose(two["weights"][name], weight, atol=tolerance), name


def test_two_processes_train_images_as_one_does(project):
    # 181 kept images in batches of 34: five of 17 rows per process, then 11 rows split 6 + 5
    one = train(project, "train_images", "mnist")
    two = train(project, "train_images", "mnist", train_images__processes=2)
    assert (one["metrics"]["processes"], two["metrics"]["processes"]) == (1, 2)
    assert_same_run(one, two, tolerance=1e-5)
    # rank 0's evaluation after the last epoch is what a single-process evaluation of the saved weights gives
    project.run(sys.executable, "stages/evaluate_images.py", "mnist")
    evaluated = project.json("metrics/evaluate_images/mnist/none/metrics.json")
    assert evaluated["accuracy"] == two["metrics"]["test"]["accuracy"]
    assert evaluated["loss"] == pytest.approx(two["metrics"]["test"]["loss"], abs=1e-6)


def test_two_processes_train_imdb_with_sgd_as_one_does(project):
    # seven reviews in batches of 6: the last one's single review leaves rank 1 an empty share;
    # one process's sparse gradient, two processes' dense one
    one = train(project, "train_imdb")
    two = train(project, "train_imdb", train_imdb__processes=2)
    assert_same_run(one, two, tolerance=1e-6)


ONE_STEP = """
import sys

import torch

from reprolab.core.batches import TensorBatches
from reprolab.core.distributed import process_group, relaunch
from reprolab.core.engines import fit
from reprolab.core.params import ImdbRun
from reprolab.core.train import loss_function
from reprolab.images.models import image_model

processes, output = int(sys.argv[1]), sys.argv[2]
relaunch(processes, torch.device("cpu"), "test.processes")
with process_group(torch.device("cpu")) as (shard, device):
    torch.manual_seed(0)
    images, labels = torch.randn(181, 1, 28, 28), torch.arange(181) % 10
    model = image_model("mlp", hidden=16)
    # one batch: 181 rows in one process, 91 + 90 in two
    batches = TensorBatches(images, labels, 182, device, shuffle=True, generator=torch.Generator().manual_seed(0),
                            shard=shard)
    params = {params}
    list(fit(model, batches, batches, params, loss_function("ce"), loss_function("ce"), shard=shard))
    if shard.main:
        torch.save({{name: p.grad for name, p in model.named_parameters()}}, output)
"""


def test_gradients_after_one_step_match_one_process(project, tmp_path):
    script = tmp_path / "one_step.py"
    params = train_params(section="train_images", optimizer="sgd", lr=1.0, batch_size=182)
    script.write_text(ONE_STEP.format(params=repr(params)))
    gradients = []
    for processes in (1, 2):
        output = tmp_path / f"{processes}.pt"
        project.run(sys.executable, str(script), str(processes), str(output))
        gradients.append(torch.load(output, weights_only=True))
    for name, one in gradients[0].items():
        assert one.abs().max() > 1e-4, name
        assert torch.allclose(gradients[1][name], one, atol=1e-6), name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_nodes_on_one_machine_agree_with_the_single_node_job(project):
    standalone = train(project, "train_images", "mnist", train_images__processes=2)
    (project.root / "metrics/train_images/mnist/none/metrics.json").unlink()
    set_params(project)
    endpoint = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
               "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", "--rdzv-id=two-nodes",
               "stages/train_images.py", "mnist"]
    env = {**project.env, "OMP_NUM_THREADS": "1"}  # as the standalone job's processes have
    nodes = [subprocess.Popen(command, cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=JOB_TIMEOUT)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    two_nodes = {"metrics": project.json("metrics/train_images/mnist/none/metrics.json"),
                 "weights": torch.load(project.root / "models/images/mnist/none.pt", weights_only=True)["state_dict"]}
    assert two_nodes["metrics"]["processes"] == 2
    assert_same_run(standalone, two_nodes, tolerance=1e-6)


WAITING_RANK = """
import torch
import torch.distributed as dist

from reprolab.core.cli import run_stage
from reprolab.core.distributed import process_group, relaunch
from reprolab.core.errors import UserError


def main():
    relaunch(2, torch.device("cpu"), "test.processes")
    with process_group(torch.device("cpu")) as (shard, device):
        if shard.rank == 1:
            raise UserError("data/broken.npz: not a .npz file")
        dist.all_reduce(torch.ones(1))  # rank 0 waits here for a rank that never comes


run_stage(main)
"""


def test_a_failing_rank_stops_the_job_with_its_one_line(project, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(WAITING_RANK)
    result = subprocess.run([sys.executable, str(script)], cwd=project.root, env=project.env, capture_output=True,
                            text=True, timeout=JOB_TIMEOUT)
    assert result.returncode == 1
    assert result.stderr == "error: rank 1: data/broken.npz: not a .npz file\n"


def test_a_bad_data_file_fails_the_job_and_dvc_records_nothing(project):
    set_params(project, train_images__processes=2, train_images__epochs=1)
    for output in ("models/images/mnist/none.pt", "metrics/train_images/mnist/none"):
        subprocess.run(["rm", "-rf", str(project.root / output)], check=True)
    kept = project.root / "data/images/mnist-kept.pt"
    saved = kept.read_bytes()
    kept.chmod(0o644)
    kept.write_bytes(saved[:100])
    try:
        result = project.repro("--single-item", "train_images@mnist", check=False)
    finally:
        kept.write_bytes(saved)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error: " in line]
    assert errors and errors[0].startswith("error: rank ") and "mnist-kept.pt: unreadable list of kept images" in errors[0]
    assert not (project.root / "models/images/mnist/none.pt").exists()
    assert not (project.root / "metrics/train_images/mnist/none").exists()
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())["stages"]
    assert "train_images@mnist" not in lock
    assert not [path for path in Path(project.root).rglob("*.tmp")]


# --- a job stops whole: nothing a stage started outlives it ------------------------------------------------------

def descendants_once(stage: subprocess.Popen, count: int, root: Path, logging: str = "") -> list[psutil.Process]:
    """The processes stage has started, once there are count of them and (if given) root has a file matching logging."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while len(found := psutil.Process(stage.pid).children(recursive=True)) < count or \
            logging and not any(root.glob(logging)):
        assert stage.poll() is None and time.monotonic() < deadline, "the job never got going"
        time.sleep(0.05)
    return found


def alive_after(processes: list[psutil.Process], seconds: float) -> list[str]:
    """Those of processes still running (not zombies) after seconds."""
    time.sleep(seconds)
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(process.cmdline()))
        except psutil.NoSuchProcess:
            pass
    return alive


IMDB_OUTPUTS = ("models/imdb_mlp.pt", "metrics/train_imdb", "timings/train_imdb.json")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_a_torchrun_job_stops_with_its_stage_and_writes_nothing_later(project, signum):
    """Ctrl-C or a kill of the stage process alone: torchrun and both ranks are gone within 5 s and write nothing.

    The job is short: ranks that lived on would write their results well inside the wait.
    """
    set_params(project, train_imdb__processes=2, train_imdb__epochs=300)
    for output in IMDB_OUTPUTS:
        subprocess.run(["rm", "-rf", str(project.root / output)], check=True)
    stage = subprocess.Popen([sys.executable, "stages/train_imdb.py"], cwd=project.root, env=project.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    job = descendants_once(stage, 3, project.root, "metrics/.train_imdb.*.tmp/plots/metrics/train/loss.tsv")
    os.kill(stage.pid, signum)
    stage.wait(timeout=JOB_TIMEOUT)
    assert alive_after(job, 5) == []
    time.sleep(5)
    assert [output for output in IMDB_OUTPUTS if (project.root / output).exists()] == []


def test_train_images_side_by_side_workers_stop_with_their_stage(project):
    set_params(project, images__strategies=["none", "weighted_sampler"], train_images__epochs=200)
    stage = subprocess.Popen([sys.executable, "stages/train_images.py", "mnist"], cwd=project.root, env=project.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # two workers and multiprocessing's resource tracker, the workers training
    workers = descendants_once(stage, 3, project.root, "metrics/.*.tmp/**/train/loss.tsv")
    stage.kill()
    stage.wait(timeout=JOB_TIMEOUT)
    assert alive_after(workers, 5) == []


SIDE_BY_SIDE_SLEEPERS = """
import time
from reprolab.core.parallel import side_by_side
list(side_by_side(time.sleep, [(120,), (120,)], workers=2, threads=1))
"""


def test_side_by_side_workers_stop_with_the_process_that_started_them(tmp_path):
    """What every side-by-side run (a sweep's points, train_images' strategies) relies on, on its own."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    parent = subprocess.Popen([sys.executable, "-c", SIDE_BY_SIDE_SLEEPERS], env=env)
    workers = descendants_once(parent, 3, tmp_path)
    time.sleep(1)  # into the sleeps
    parent.kill()
    parent.wait(timeout=JOB_TIMEOUT)
    assert alive_after(workers, 5) == []
