"""The image track on the real Fashion-MNIST (Debian's dataset-fashion-mnist), as issue #3's acceptance checks."""

import os
import time
from pathlib import Path

import pytest

from conftest import require_real_data
from project import Project

pytestmark = pytest.mark.e2e
FOLDER = Path(os.environ.get("REPROLAB_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
TARGETS = ("compare_images@fashion_mnist", "batch_composition@fashion_mnist")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    require_real_data(FOLDER, "REPROLAB_FASHION_MNIST", "Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    project = Project(tmp_path_factory.mktemp("e2e-images") / "repo")
    project.set_params(images__datasets=["fashion_mnist"], data__fashion_mnist__sources=[str(FOLDER)],
                       train_images__device="cpu")
    project.commit("use Debian's Fashion-MNIST")
    return project


def test_weighted_sampler_lifts_pullover_recall(project):
    start = time.perf_counter()
    project.repro(*TARGETS)
    print(f"image track on Fashion-MNIST: {time.perf_counter() - start:.0f} s")
    kept = project.json("metrics/imbalance/fashion_mnist/metrics.json")["kept_per_class"]
    assert (kept["Trouser"], kept["Pullover"], kept["Coat"]) == (300, 300, 6000)
    results = project.json("metrics/compare_images/fashion_mnist/metrics.json")
    plain, sampled = results["none"], results["weighted_sampler"]
    assert plain["minority_recall"]["Pullover"] < 0.5
    assert sampled["minority_recall"]["Pullover"] >= 0.70
    assert sampled["macro_f1"] >= 0.87 > plain["macro_f1"]
    per_class = project.json("reports/evaluate_images/fashion_mnist/weighted_sampler/per_class.json")
    assert per_class["Pullover"]["support"] == 1000
    assert project.stages_run(project.repro(*TARGETS).stdout) == []
