"""Data-parallel training under torchrun: the launch, the process group, and each process's share of the data.

A training stage whose `processes` param is above 1 reruns itself under `torchrun --standalone`; a
job that torchrun started (on one machine or several) finds its rank and world size in the
environment. Every process holds the whole dataset and takes every world-th row of each epoch's
order, so a global batch of B rows is B / world rows per process, and DistributedDataParallel
averages the gradients.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.distributed as dist

from reprolab.core.errors import UserError
from reprolab.core.lifetime import STAGE_PID, die_with_parent, die_with_stage

ERROR_LINE = re.compile(r"^error: (.*)$")  # run_stage's one line
# torchrun's report of the first process to fail: its rank, exit code and (if a signal ended it) the signal
ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)[^\n]*?(?:\((SIG[A-Z0-9]+)\))?\s*$",
                        re.S | re.M)
STOPPED = re.compile(r"^(rank \d+: )?(interrupted|terminated);")  # what the ranks torchrun stops say: not the cause


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel job: rank `rank` of `world`. The default is a single-process run."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes the outputs and evaluates."""
        return self.rank == 0

    def take(self, order: torch.Tensor) -> torch.Tensor:
        """This process's rows of an epoch's order: every world-th, from its rank."""
        return order if self.world == 1 else order[self.rank :: self.world]

    def size(self, count: int) -> int:
        """How many of count rows take() gives this process."""
        return len(range(self.rank, count, self.world))

    def generator(self, generator: torch.Generator) -> torch.Generator:
        """A generator for draws each process makes alone (weighted sampling), seeded by the run's seed and the rank."""
        if self.world == 1:
            return generator
        seed = int(np.random.SeedSequence([generator.initial_seed(), self.rank]).generate_state(1)[0])
        return torch.Generator(device=generator.device).manual_seed(seed)

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """value summed over every process (a copy; value itself where there is one process)."""
        if self.world == 1:
            return value
        total = value.clone()
        dist.all_reduce(total)
        return total

    def mean(self, value: float, rows: int, device: torch.device) -> float:
        """The job's mean of a per-process mean over `rows` rows (value itself where there is one process)."""
        if self.world == 1:
            return value
        total, count = self.sum(torch.tensor([value * rows, rows], dtype=torch.float64, device=device)).tolist()
        return total / count

    def batch_loss(self, loss: torch.Tensor, rows: int) -> torch.Tensor:
        """This process's mean batch loss scaled so that DDP's average of the gradients is the whole batch's mean.

        The whole batch's row count is summed over the processes: the last batch splits unevenly.
        """
        if self.world == 1:
            return loss
        total = self.sum(torch.tensor(float(rows), device=loss.device))
        return loss * (self.world * rows / total)


SINGLE = Shard()


def torchrun_world() -> int | None:
    """The world size torchrun gave this process, or None outside torchrun."""
    return int(os.environ["WORLD_SIZE"]) if "LOCAL_RANK" in os.environ else None


def processes_planned(processes: int) -> int:
    """How many processes the job has: torchrun's world size under torchrun, else the stage's processes param."""
    return torchrun_world() or processes


def relaunch(processes: int, device: torch.device, param: str) -> None:
    """With processes > 1 outside torchrun: rerun this command under `torchrun --standalone`, then exit with its status.

    torchrun's own report of a failed worker is many lines; the failing rank's one-line error is raised instead.
    """
    if processes == 1 or torchrun_world() is not None:
        return
    if device.type == "cuda" and processes > torch.cuda.device_count():
        raise UserError(f"params.yaml: {param} is {processes} but {torch.cuda.device_count()} CUDA GPUs are visible; "
                        "use at most one process per GPU")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               sys.argv[0], *sys.argv[1:]]
    # torchrun sets 1 thread per process, with a banner, unless told; share the cores out instead
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // processes))
    env = {**os.environ, "OMP_NUM_THREADS": threads, STAGE_PID: str(os.getpid())}
    # torchrun dies with this process (and its ranks with it), however this one ends: no rank outlives the stage
    result = subprocess.run(command, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=partial(die_with_parent, os.getpid()))
    if result.returncode == 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(0)
    raise UserError(worker_error(result.stderr, result.returncode))


def worker_error(stderr: str, status: int) -> str:
    """The one line that says why a torchrun job failed: the first rank's error that is not a stop torchrun caused,
    else the rank torchrun names as the root cause and how it ended (a signal, say)."""
    errors = [match.group(1) for match in map(ERROR_LINE.match, stderr.splitlines()) if match]
    causes = [error for error in errors if not STOPPED.match(error)]
    root = ROOT_CAUSE.search(stderr)
    if causes or not root and errors:
        return (causes or errors)[0]
    if root:
        rank, code, signal_name = root.groups()
        how = f"was killed by {signal_name}" if signal_name else f"exited with status {code}"
        return f"rank {rank} {how}; torchrun stopped the others; nothing was written"
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    return f"torchrun failed with status {status}: {last}"


@contextmanager
def process_group(device: torch.device) -> Iterator[tuple[Shard, torch.device]]:
    """Under torchrun, this process's shard and device inside the job's process group (nccl on CUDA, gloo on CPU).

    Outside torchrun, or with one process, a single-process shard and the device as given.
    """
    world = torchrun_world()
    if not world or world == 1:
        yield SINGLE, device
        return
    die_with_stage()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Shard(dist.get_rank(), dist.get_world_size()), device
    finally:
        dist.destroy_process_group()
