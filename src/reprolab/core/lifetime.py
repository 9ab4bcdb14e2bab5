"""Processes a stage starts end with it, whatever ends the stage: Ctrl-C, SIGTERM, SIGKILL, the OOM killer.

Each child asks Linux for a parent-death signal, SIGKILL the moment the process that started it exits, so a
torchrun job or a side-by-side worker can never write results after its stage has gone. A kill cannot be
caught, so the stage's own cleanup cannot be what stops them. Elsewhere than Linux this does nothing.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STAGE_PID = "REPROLAB_STAGE_PID"  # the stage process, for the processes of a torchrun job it started
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent(parent: int) -> None:
    """Be killed when the parent exits, or now if it already has (this process then has another parent).

    Safe between fork and exec (subprocess's preexec_fn): it only makes system calls.
    """
    if _prctl is None:
        return
    _set_parent_death_signal()
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def die_with_stage() -> None:
    """In a process torchrun started for a stage: be killed when torchrun exits (torchrun dies with the stage),
    or now if it already has."""
    if _prctl is None or STAGE_PID not in os.environ:
        return
    _set_parent_death_signal()
    if _parent_of(os.getppid()) != int(os.environ[STAGE_PID]):  # reparented: torchrun is gone
        os.kill(os.getpid(), signal.SIGKILL)


def _set_parent_death_signal() -> None:
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])  # after "pid (name) state"
    except (OSError, IndexError, ValueError):
        return 0
