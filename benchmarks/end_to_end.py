"""The course's IMDB configuration end to end, the course's code against the pipeline's stages, in one run.

The course's side: benchmarks/course_imdb.py (its notebook's code as one script) on the extracted archive.
The project's side: in a fresh clone of this repository, after `dvc repro fetch_imdb`, the command a user
types to run that configuration:

    dvc exp run -S imdb.tokenizer=normalized -S train_imdb.optimizer=sgd -S train_imdb.lr=0.01 \\
        -S train_imdb.batch_size=128 -S train_imdb.epochs=5 -S train_imdb.head=bce train_imdb

which tokenizes, builds the vocabulary, encodes and trains, each stage a process, DVC's bookkeeping
included. Both are timed from the command's start to its end, python's and torch's start included; the
archive's extraction, the clone and the fetch are not. The sides alternate, --repeats times, each repeat in
a fresh clone (an empty DVC cache, as a new user has).

    python benchmarks/end_to_end.py --archive ../shared/data/aclImdb_v1_labeled.tar.gz
"""

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"imdb.tokenizer": "normalized", "train_imdb.optimizer": "sgd", "train_imdb.lr": 0.01,
            "train_imdb.batch_size": 128, "train_imdb.epochs": 5, "train_imdb.head": "bce"}


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of a command, and what it printed; a failure stops the benchmark with its output."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout + done.stderr


def fresh_clone(clone: Path, archive: Path) -> Path:
    """A clone of this repository's HEAD reading the given archive, with fetch_imdb done and committed."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    text = (clone / "params.yaml").read_text()  # edited as text, so that its comments stay
    first = yaml.safe_load(text)["data"]["imdb"]["sources"][0]["at"]
    (clone / "params.yaml").write_text(text.replace(first, str(archive), 1))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q", "fetch_imdb"], cwd=clone, check=True,
                   capture_output=True)
    subprocess.run([*git, "commit", "-qam", "fetched"], cwd=clone, check=True)
    return clone


def ours(clone: Path) -> tuple[float, float]:
    """Wall seconds of the exp run, and its test accuracy after the last epoch."""
    sets = [arg for key, value in SETTINGS.items() for arg in ("-S", f"{key}={value}")]
    seconds, _ = timed([sys.executable, "-m", "dvc", "exp", "run", *sets, "train_imdb"], clone)
    return seconds, json.loads((clone / "metrics/train_imdb/metrics.json").read_text())["test"]["accuracy"]


def course(extracted: Path) -> tuple[float, float]:
    seconds, output = timed([sys.executable, str(REPO / "benchmarks/course_imdb.py"), str(extracted)], REPO)
    return seconds, float(output.rsplit("test_accuracy=", 1)[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="reprolab-e2e-"))
    try:
        with tarfile.open(args.archive) as archive:
            archive.extractall(folder / "extracted", filter="data")
        for repeat in range(1, args.repeats + 1):
            clone = fresh_clone(folder / f"repo{repeat}", args.archive.resolve())  # a new user's: empty cache
            (course_s, course_acc), (ours_s, ours_acc) = course(folder / "extracted"), ours(clone)
            print(f"run {repeat}: the course's code {course_s:.1f} s (test accuracy {course_acc:.4f}); "
                  f"dvc exp run {ours_s:.1f} s (test accuracy {ours_acc:.4f}); {course_s / ours_s:.1f}x", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
