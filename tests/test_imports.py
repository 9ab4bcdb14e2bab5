"""Stages start fast: heavy libraries load where they are used, not when the package is imported."""

import subprocess
import sys

HEAVY = ("sklearn", "matplotlib", "dvclive", "torchvision", "scipy")
# every module a training stage imports; core/report.py (figures) and speed/course.py (the course's code) are where they belong
MODULES = ("core.atomic", "core.batches", "core.cli", "core.device", "core.fetch", "images.idx", "images.data",
           "imdb.data", "imdb.batches", "imdb.models", "images.models", "core.params", "core.record", "imdb.sweeps",
           "core.train", "speed.measure")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_library_modules_load_no_heavy_library():
    loaded = loaded_after("\n".join(f"import reprolab.{module}" for module in MODULES))
    assert not loaded & set(HEAVY), f"imported at package import: {sorted(loaded & set(HEAVY))}"


def test_the_text_stages_load_no_torch():
    """fetch, tokenize, vocabulary and encoding only read and write files: no torch either."""
    for module in ("core.fetch", "imdb.data", "core.params", "core.cli", "core.atomic", "core.paths"):
        assert "torch" not in loaded_after(f"import reprolab.{module}"), module
