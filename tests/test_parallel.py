"""Runs side by side: results in order, the threads each run gets, and a failure that stops the queue."""

import time
from pathlib import Path

import pytest
import torch

from reprolab.core import parallel
from reprolab.core.parallel import one_at_a_time, side_by_side
from reprolab.core.record import _live


def threads_and_square(value: int) -> tuple[int, int]:
    return torch.get_num_threads(), value * value


def fail_first(number: int, folder: str) -> None:
    if number == 0:
        raise ValueError("run 0 failed")
    time.sleep(0.5)
    (Path(folder) / str(number)).touch()


def test_results_come_in_order_with_the_threads_asked_for():
    assert list(side_by_side(threads_and_square, [(v,) for v in range(5)], workers=2, threads=1)) == \
        [(1, v * v) for v in range(5)]
    before = torch.get_num_threads()
    try:
        assert list(side_by_side(threads_and_square, [(3,)], workers=1, threads=1)) == [(1, 9)]  # in this process
    finally:
        torch.set_num_threads(before)


def test_a_failed_run_cancels_the_runs_not_yet_started(tmp_path):
    with pytest.raises(ValueError, match="run 0 failed"):
        list(side_by_side(fail_first, [(number, str(tmp_path)) for number in range(12)], workers=2))
    assert len(list(tmp_path.iterdir())) < 11  # the runs already handed to a worker finish; the rest never start


def hold_the_shared_block(seconds: float) -> tuple[float, float]:
    with one_at_a_time():
        start = time.monotonic()
        time.sleep(seconds)
        return start, time.monotonic()


def test_side_by_side_runs_enter_the_shared_block_one_at_a_time():
    spans = sorted(side_by_side(hold_the_shared_block, [(0.3,)] * 4, workers=2, threads=1))
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


def test_dvclive_ends_inside_the_shared_block(monkeypatch, tmp_path):
    """DVCLive's end() removes a file all runs share, after checking that it exists: ends that overlap race."""
    from dvclive import Live

    class Block:
        held = False

        def __enter__(self):
            Block.held = True

        def __exit__(self, *exc):
            Block.held = False

    ends = []
    monkeypatch.setattr(parallel, "_shared_lock", Block())
    monkeypatch.setattr(Live, "end", lambda live: ends.append(Block.held))
    with _live(tmp_path) as live:
        live.log_metric("loss", 1.0)
    assert ends == [True]
