"""Where a stage's time goes: its imports, then the phases the code marks, and what is left (other).

The library marks its own steps (importing a library late, loading data, preparing it, training, evaluating,
measuring, writing), so every stage is accounted alike; a phase inside another takes its time from the outer
one. run_stage writes the account to timings/stages/<stage>.json and prints it when the stage succeeds.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PHASES = ("imports", "load", "prepare", "train", "evaluate", "measure", "write")
_now = time.perf_counter  # bound once: code that fakes time.perf_counter to time itself leaves the stage clock alone
_IMPORTED = _now()
_spent = dict.fromkeys(PHASES, 0.0)
_open: list[list] = []  # [phase, when it last started or resumed], innermost last
_start: dict[str, float] = {}
_first: dict[str, float] = {}  # moment -> seconds from the process's start to its first occurrence


def since_process_start() -> float:
    """Seconds since this process started, read from /proc on Linux; elsewhere since this module was imported."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return _now() - _IMPORTED


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the time inside as name (one of PHASES), less the phases opened inside it; also a decorator."""
    now = _now()
    if _open:
        _spent[_open[-1][0]] += now - _open[-1][1]
    _open.append([name, now])
    try:
        yield
    finally:
        now = _now()
        inner, started = _open.pop()
        _spent[inner] += now - started
        if _open:
            _open[-1][1] = now


def start() -> None:
    """Count everything before the stage's main() runs as imports."""
    _start.update(before=since_process_start(), at=_now())
    _spent["imports"] += _start["before"]


def _elapsed() -> float:
    return _start.get("before", 0.0) + _now() - _start.get("at", _IMPORTED)


def mark_first(moment: str) -> None:
    """Note when moment (say, the first epoch) first came, in seconds from the process's start."""
    _first.setdefault(moment, _elapsed())


def account() -> dict[str, float]:
    """Seconds per phase of this process's run so far, then other (the rest), the total, and the moments noted
    (as <moment>_at)."""
    total = _elapsed()
    return {**_spent, "other": total - sum(_spent.values()), "total": total,
            **{f"{moment}_at": seconds for moment, seconds in _first.items()}}


def summary(account: dict[str, float]) -> str:
    """The account as one line: total, then the parts that took time."""
    parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in account.items()
                      if name in (*PHASES, "other") and seconds >= 0.005)
    return f"{account['total']:.2f} s ({parts})"
