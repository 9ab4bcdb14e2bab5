"""Stages start fast: heavy libraries load where they are used, not when the package is imported."""

import subprocess
import sys
from pathlib import Path

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


def modules_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_seeding_and_training_never_import_the_compiler():
    """torch.use_deterministic_algorithms and torch.optim's optimizers import torch's compiler (dynamo, inductor:
    hundreds of modules) on first use; deterministic seeding, the model's own plain-SGD steps (every sweep point)
    and core.optim's SGD and Adam (every other run) need neither."""
    points = "\n".join(
        f"train_point(train_params(optimizer={optimizer!r}, momentum={momentum}, epochs=1), {{'train': random_bags(64), "
        "'test': random_bags(32, seed=1)}, NUM_FEATURES, torch.device('cpu'), 32)"
        for optimizer, momentum in (("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0)))
    loaded = modules_after(
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\nimport torch\nfrom reprolab.imdb.sweeps import train_point\n"
        f"from test_models import NUM_FEATURES, random_bags, train_params\n{points}\n"
        "assert torch.are_deterministic_algorithms_enabled()")
    assert "reprolab.imdb.sweeps" in loaded
    assert not {"torch._dynamo", "torch._inductor"} & loaded
