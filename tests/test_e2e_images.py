"""The image track on the real Fashion-MNIST (Debian's dataset-fashion-mnist), read off the reference run."""

import pytest

pytestmark = pytest.mark.e2e


def test_weighted_sampler_lifts_pullover_recall(reference_run):
    project = reference_run
    kept = project.json("metrics/imbalance/fashion_mnist/metrics.json")["kept_per_class"]
    assert (kept["Trouser"], kept["Pullover"], kept["Coat"]) == (300, 300, 6000)
    results = project.json("metrics/compare_images/fashion_mnist/metrics.json")
    plain, sampled = results["none"], results["weighted_sampler"]
    assert plain["minority_recall"]["Pullover"] < 0.5
    assert sampled["minority_recall"]["Pullover"] >= 0.70
    assert sampled["macro_f1"] >= 0.87 > plain["macro_f1"]
    per_class = project.json("reports/evaluate_images/fashion_mnist/weighted_sampler/per_class.json")
    assert per_class["Pullover"]["support"] == 1000
