"""Where a stage's time goes: phases that nest, an account that adds up, and a record every stage writes."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO
from reprolab.core import clock


@pytest.fixture
def fake_time(monkeypatch):
    """A clock that moves only when the test says, and a fresh account."""
    now = [100.0]
    monkeypatch.setattr(clock, "_now", lambda: now[0])
    monkeypatch.setattr(clock, "since_process_start", lambda: 2.0)
    monkeypatch.setattr(clock, "_spent", dict.fromkeys(clock.PHASES, 0.0))
    monkeypatch.setattr(clock, "_open", [])
    monkeypatch.setattr(clock, "_start", {})
    monkeypatch.setattr(clock, "_first", {})

    def advance(seconds: float) -> None:
        now[0] += seconds
    return advance


def test_a_phase_inside_another_takes_its_time_from_it_and_the_account_adds_up(fake_time):
    clock.start()
    fake_time(0.5)  # before any phase: other
    with clock.phase("write"):
        fake_time(1.0)
        with clock.phase("train"):
            fake_time(3.0)
            with clock.phase("evaluate"):
                fake_time(0.25)
            fake_time(1.0)
        fake_time(0.5)
    account = clock.account()
    assert account["imports"] == 2.0
    assert (account["write"], account["train"], account["evaluate"], account["other"]) == (1.5, 4.0, 0.25, 0.5)
    assert account["total"] == 2.0 + 0.5 + 1.5 + 4.0 + 0.25
    assert sum(seconds for part, seconds in account.items() if part != "total") == account["total"]


def test_a_failing_phase_still_counts_and_closes(fake_time):
    clock.start()
    with pytest.raises(ValueError), clock.phase("load"):
        fake_time(1.0)
        raise ValueError
    fake_time(2.0)
    assert (clock.account()["load"], clock.account()["other"]) == (1.0, 2.0)


def test_a_phase_is_also_a_decorator(fake_time):
    @clock.phase("prepare")
    def work() -> str:
        fake_time(0.75)
        return "done"

    clock.start()
    assert work() == "done" and work() == "done"
    assert clock.account()["prepare"] == 1.5


def test_the_process_age_counts_the_interpreter_start():
    """Read from /proc, so it covers what ran before any reprolab code: here, a 0.3 s sleep before the import."""
    code = "import time; time.sleep(0.3)\nfrom reprolab.core import clock\nprint(clock.since_process_start())"
    age = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONPATH": str(REPO / "src")}).stdout)
    assert 0.3 <= age < 30


def test_every_stage_records_its_account_under_its_dvc_name(tmp_path):
    """run_stage writes timings/stages/<DVC_STAGE>.json with every part, and prints the line; a failed stage none."""
    script = tmp_path / "stage.py"
    script.write_text("from reprolab.core.cli import run_stage\nfrom reprolab.core.clock import phase\n"
                      "from reprolab.core.errors import UserError\nimport sys\n"
                      "def main():\n    with phase('train'):\n        sum(range(10**5))\n"
                      "    if sys.argv[1:] == ['fail']:\n        raise UserError('bad')\nrun_stage(main)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DVC_STAGE": "train_images@mnist"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    record = json.loads((tmp_path / "timings/stages/train_images@mnist.json").read_text())
    assert set(record) == {*clock.PHASES, "other", "total", "imported_torch"} and record["imported_torch"] is False
    assert record["imports"] > 0 and record["train"] > 0
    assert record["total"] == pytest.approx(sum(record[part] for part in [*clock.PHASES, "other"]), abs=0.005)
    said = re.match(r"train_images@mnist took (\d+\.\d\d) s \(imports ", done.stdout)
    assert said and abs(float(said.group(1)) - record["total"]) <= 0.006  # the file rounds to 3 places, the line to 2
    (tmp_path / "timings/stages/train_images@mnist.json").unlink()
    failed = subprocess.run([sys.executable, str(script), "fail"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and not list((tmp_path / "timings/stages").glob("*.json"))
    by_hand = {name: value for name, value in env.items() if name != "DVC_STAGE"}
    subprocess.run([sys.executable, str(script), "mnist"], cwd=tmp_path, env=by_hand, check=True, capture_output=True)
    assert (tmp_path / "timings/stages/stage@mnist.json").exists()


def test_a_moment_is_noted_once_from_the_process_start(fake_time):
    clock.start()
    fake_time(1.5)
    clock.mark_first("epoch")
    fake_time(1.0)
    clock.mark_first("epoch")
    assert clock.account()["epoch_at"] == 2.0 + 1.5
    assert "epoch_at" not in clock.summary(clock.account())
