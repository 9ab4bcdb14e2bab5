"""A throwaway copy of this repository as its own git + DVC project, for pipeline tests."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = ("metrics/", "timings/", "reports/")
TEST_ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(REPO / "src"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid", "DVC_NO_ANALYTICS": "1"}


def committed_params() -> str:
    """params.yaml as committed: tests never read the working copy's (a user's edits stay the user's)."""
    return subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout


class Project:
    """The repository's tracked code copied into `root` with the committed params.yaml, committed; params set per test.

    Results (metrics/, reports/, dvc.lock) are left behind: a test's pipeline makes its own.
    """

    def __init__(self, root: Path):
        self.root = root
        files = subprocess.run(["git", "ls-files", "--cached"], cwd=REPO, capture_output=True, text=True,
                               check=True).stdout.split()
        for name in files:
            if (REPO / name).is_file() and not name.startswith(RESULTS) and name not in ("dvc.lock", "params.yaml"):
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, root / name)
        (root / "params.yaml").write_text(committed_params())
        self.env = TEST_ENV
        self.run("git", "init", "-q")
        self.commit("copy of reprolab")

    @classmethod
    def clone(cls, source: "Project | Path", root: Path) -> "Project":
        """A git clone of source (a Project, or this repository's folder for its last commit) at root: what a
        teammate checks out (DVC-tracked files absent until pulled)."""
        project = cls.__new__(cls)
        project.root, project.env = root, TEST_ENV
        origin = source.root if isinstance(source, Project) else source
        subprocess.run(["git", "clone", "-q", str(origin), str(root)], env=TEST_ENV, check=True, capture_output=True)
        return project

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message, "--allow-empty")

    def set_params(self, **dotted) -> None:
        """Set params.yaml values given as section__key=value."""
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for name, value in dotted.items():
            *sections, key = name.split("__")
            target = params
            for section in sections:
                target = target[section]
            target[key] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def use_archive(self, archive: Path) -> None:
        self.set_params(data__imdb__sources=[{"at": str(archive), "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}])

    def repro(self, *targets: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("dvc", "repro", *targets, check=check)

    def stages_run(self, output: str) -> list[str]:
        return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]

    def json(self, name: str) -> dict:
        return yaml.safe_load((self.root / name).read_text())
