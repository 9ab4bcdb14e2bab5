"""Course 002's experiments on the real IMDB archive, as issue #5's agreement checks, read off the reference run."""

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def project(reference_run):
    return reference_run


def accuracy(project, sweep: str, value: str) -> float:
    return project.json(f"metrics/sweeps/{sweep}/{value}.json")["test_accuracy"]


def test_learning_rate_shuffle_and_batch_size_agree_with_the_seed(project):
    assert accuracy(project, "lr", "0.01") > 0.78
    assert abs(accuracy(project, "lr", "0.0001") - 0.5) < 0.05  # near chance after 5 epochs
    assert abs(accuracy(project, "shuffle", "false") - 0.5) < 0.05  # positives then negatives: it learns the last class
    assert accuracy(project, "shuffle", "true") > 0.78
    assert accuracy(project, "batch_size", "32") > accuracy(project, "batch_size", "1024") + 0.05


def test_heads_tokenizers_subsets_and_overfitting(project):
    for head in ("bce", "ce"):
        point = project.json(f"metrics/sweeps/head/{head}.json")
        assert abs(point["initial_loss"] - point["expected_initial_loss"]) < 0.01
    split, normalized = (project.json(f"metrics/sweeps/tokenizer/{t}.json")["data"] for t in ("split", "normalized"))
    assert normalized["distinct_oov_tokens"] < split["distinct_oov_tokens"] / 2
    first = project.json("metrics/sweeps/subset/first.json")
    assert first["reviews"]["test"]["positive"] == 200 and first["test_accuracy"] == 1.0  # course I.3's trap
    assert project.json("metrics/sweeps/subset/balanced.json")["reviews"]["test"]["positive"] == 100
    overfit = project.json("reports/overfit/metrics.json")
    assert overfit["test_perplexity_turns_up_at_epoch"] is not None
    assert overfit["final_test_perplexity"] > overfit["lowest_test_perplexity"]
    assert overfit["final_train_perplexity"] < 1.05
    assert "sweep of learning rate" in (project.root / "reports/sweeps/lr/table.md").read_text()
