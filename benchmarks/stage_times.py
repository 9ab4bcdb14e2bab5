"""Where each stage's time went in the last run, as one markdown table: run_stage's timings/stages/<stage>.json.

Beside the parts: when a training stage's first epoch began, counted from the process's start, and what a stage
spent beyond its work (loading, preparing, training, evaluating, measuring, writing) and, if it imports torch,
torch's import (timed here in a fresh process as the stages time theirs, best of 3): its other imports, and the
rest.

    dvc repro -f && python benchmarks/stage_times.py
"""

import json
import subprocess
import sys

from reprolab.core.clock import PHASES
from reprolab.core.paths import timings

WORK = [phase for phase in PHASES if phase != "imports"]


def torch_import_seconds(repeats: int = 3) -> float:
    """Seconds from a fresh process's start to torch imported, best of repeats."""
    code = "import torch\nfrom reprolab.core.clock import since_process_start\nprint(since_process_start())"
    return min(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
               for _ in range(repeats))


def main() -> None:
    records = {path.stem: json.loads(path.read_text()) for path in sorted(timings("stages").glob("*.json"),
                                                                          key=lambda path: path.stat().st_mtime)}
    if not records:
        sys.exit(f"{timings('stages')}: no stage timings; run the pipeline first")
    torch_seconds = torch_import_seconds()
    print(f"| stage | total | imports | {' | '.join(WORK)} | other | first epoch at | beyond the work and torch's "
          f"import ({torch_seconds:.2f} s) |")
    print("|---" * (len(WORK) + 6) + "|")
    for stage, spent in records.items():
        beyond = spent["imports"] - torch_seconds * spent["imported_torch"] + spent["other"]
        cells = [f"{spent[part]:.2f}" if spent[part] >= 0.005 else "" for part in ["total", "imports", *WORK, "other"]]
        epoch = f"{spent['epoch_at']:.2f}" if "epoch_at" in spent else ""
        print(f"| {stage} | {' | '.join(cells)} | {epoch} | {beyond:.2f} |")


if __name__ == "__main__":
    main()
