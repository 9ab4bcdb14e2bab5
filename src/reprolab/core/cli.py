"""Entry-point helpers shared by the stage scripts: arguments, --help from dvc.yaml, one-line errors."""

import argparse
import os
import signal
import sys
from collections.abc import Callable, Collection
from pathlib import Path

from reprolab.core import clock
from reprolab.core.atomic import write_json
from reprolab.core.errors import UserError
from reprolab.core.paths import timings

DVC_YAML = "dvc.yaml"


def _entries(items: list) -> list[str]:
    """dvc.yaml deps/outs/params/metrics/plots entries as plain names (dict entries carry options)."""
    return [next(iter(item)) if isinstance(item, dict) else str(item) for item in items or []]


def stage_summary(script: str, dvc_yaml: str | Path = DVC_YAML) -> str:
    """What dvc.yaml says the stages running script read and write: deps, params and outputs."""
    import yaml

    try:
        stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return f"(run from the repository root to see what {script} reads and writes, from {dvc_yaml})"
    lines = []
    for name, stage in stages.items():
        body = stage.get("do", stage)
        if f"python {script}" not in body.get("cmd", ""):
            continue
        outs = [entry for key in ("outs", "metrics", "plots") for entry in _entries(body.get(key))]
        lines += [f"stage {name} ({body['cmd']})",
                  "  reads:  " + ", ".join(_entries(body.get("deps"))),
                  "  params: " + ", ".join(_entries(body.get("params"))),
                  "  writes: " + ", ".join(outs)]
    return "\n".join(lines)


def parse_stage_args(file: str, doc: str, arguments: tuple[tuple[str, str], ...] = ()) -> argparse.Namespace:
    """The stage script's command-line arguments (name, help); --help shows what dvc.yaml says it reads and writes."""
    script = f"stages/{Path(file).name}"
    parser = argparse.ArgumentParser(prog=f"python {script}", description=doc,
                                     epilog=stage_summary(script), formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, text in arguments:
        parser.add_argument(name, help=text)
    return parser.parse_args()


class Terminated(Exception):
    """SIGTERM arrived (torchrun stops the other ranks of a failed job so): unwinds like Ctrl-C, removing temp files."""


def _terminate(signum, frame) -> None:
    raise Terminated


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(), then record where its time went; a UserError, an OS error or running out of memory
    becomes one line and exit status 1."""
    clock.start()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
        _record_time()
    except UserError as err:
        _fail(str(err))
    except OSError as err:
        _fail(f"{err.filename}: {err.strerror}" if err.filename else str(err))
    except MemoryError:
        _fail("out of memory; lower the batch size or the model size in params.yaml")
    except KeyboardInterrupt:
        _fail("interrupted; nothing was written", status=130)
    except Terminated:
        _fail("terminated; nothing was written", status=143)


def stage_name() -> str:
    """The stage running: DVC's name for it (train_images@mnist), or the script and its argument when run by hand."""
    name = os.environ.get("DVC_STAGE") or "@".join([Path(sys.argv[0]).stem, *sys.argv[1:2]])
    return name.replace("/", "_").replace(":", "_")


def _record_time() -> None:
    """Write the stage's clock.account() to timings/stages/<stage>.json and print it; in a torchrun job, rank 0's.

    Timings are a log: a failed write is a warning, not a failed stage.
    """
    if os.environ.get("RANK", "0") != "0":
        return
    name, account = stage_name(), clock.account()
    try:
        write_json(timings("stages", f"{name}.json"), {**{part: round(seconds, 3) for part, seconds in account.items()},
                                                       "imported_torch": "torch" in sys.modules})
    except (UserError, OSError) as err:
        print(f"warning: timings not written: {err}", file=sys.stderr)
    print(f"{name} took {clock.summary(account)}", flush=True)


def _fail(message: str, status: int = 1) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # one process of a torchrun job: say which
        message = f"rank {os.environ['RANK']}: {message}"
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def stage_choice(value: str, choices: Collection[str], what: str) -> str:
    """A stage's command-line argument, checked against the values params.yaml allows."""
    if value not in choices:
        allowed = ", ".join(choices) if choices else "(params.yaml lists none)"
        raise UserError(f"{what} must be one of {allowed}, got {value!r}")
    return value
