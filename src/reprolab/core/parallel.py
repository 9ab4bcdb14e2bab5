"""Independent runs side by side on CPU: a few spawned processes share the cores, each with its own threads."""

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext

import torch

from reprolab.core.lifetime import die_with_parent

_shared_lock = None  # in a side-by-side worker: the lock its siblings share


def _start_worker(stage: int, threads: int, lock) -> None:
    global _shared_lock
    die_with_parent(stage)
    torch.set_num_threads(threads)
    _shared_lock = lock


def one_at_a_time() -> AbstractContextManager:
    """A block that side-by-side runs enter one at a time (outside them, a plain block): for library code that
    touches files its siblings share."""
    return _shared_lock or nullcontext()


def cpu_workers(runs: int) -> int:
    """How many of runs go side by side on this machine's CPU: one per core."""
    return max(1, min(runs, os.cpu_count() or 1))


def side_by_side(function: Callable, arguments: list[tuple], workers: int, threads: int | None = None) -> Iterator:
    """function(*args) for each run, in order; with workers > 1, in that many fresh processes.

    threads: torch threads per run, in this process too when workers is 1; by default each worker gets its share
    of the cores and a run in this process keeps what it has.
    """
    if workers == 1:
        if threads:
            torch.set_num_threads(threads)
        yield from (function(*args) for args in arguments)
        return
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # a forked child of a process that has run OpenMP threads can hang
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(os.getpid(), threads, context.Lock())) as pool:
        yield from pool.map(function, *zip(*arguments, strict=True))  # a failure cancels the runs not yet started
