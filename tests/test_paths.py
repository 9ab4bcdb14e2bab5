"""Every artifact path is spelled once, in reprolab.core.paths: dvc.yaml's deps and outs are those paths."""

import inspect
import re
from fnmatch import fnmatch
from pathlib import Path

import yaml

from reprolab.core import paths

from project import REPO

CODE_PATHS = ("src/", "stages/")


def dvc_paths() -> set[str]:
    """Every dep, out, metric and plot path of dvc.yaml's stages, ${...} written as *."""
    found = set()
    for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values():
        stage = stage.get("do", stage)
        for key in ("deps", "outs", "metrics", "plots"):
            for entry in stage.get(key, []):
                path = next(iter(entry)) if isinstance(entry, dict) else entry
                if not path.startswith(CODE_PATHS):
                    found.add(re.sub(r"\$\{[^}]+\}", "*", path))
    return found


def declared_paths() -> set[str]:
    """What reprolab.core.paths spells: its constants, and its functions for any name (stage_metrics for the stages the
    code calls it with)."""
    found = {str(value) for value in vars(paths).values() if isinstance(value, Path)}
    for name, function in inspect.getmembers(paths, inspect.isfunction):
        if name != "stage_metrics":
            found.add(str(function(*["*"] * len(inspect.signature(function).parameters))))
    code = "\n".join(path.read_text() for pattern in ("src/reprolab/**/*.py", "stages/*.py") for path in REPO.glob(pattern))
    for stage in re.findall(r'stage_metrics\("(\w+)"', code):
        found |= {str(paths.stage_metrics(stage)), str(paths.stage_metrics(stage, "*"))}
    return found


def test_every_path_in_dvc_yaml_is_one_paths_spells():
    declared = declared_paths()
    stray = [path for path in sorted(dvc_paths())
             if not any(fnmatch(path, pattern) or fnmatch(path, f"{pattern}/*") for pattern in declared)]
    assert stray == [], f"dvc.yaml spells paths that reprolab.core.paths does not: {stray}"


def test_no_stage_or_library_module_spells_an_artifact_path():
    """Paths under data/, models/, metrics/, reports/ and timings/ are written in paths.py alone."""
    spelled = [f"{path.relative_to(REPO)}: {match}"
               for pattern in ("src/reprolab/**/*.py", "stages/*.py") for path in REPO.glob(pattern)
               if path.name != "paths.py"
               for match in re.findall(r"""["'](?:data|models|metrics|reports|timings)/[^"']*["']""", path.read_text())]
    assert spelled == []
