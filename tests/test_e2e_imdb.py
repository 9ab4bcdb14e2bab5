"""The real pipeline on the real IMDB archive (../shared/data): the reference run, and experiments on a clone of it."""

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def project(experiment_clone):
    return experiment_clone


def test_defaults_reach_87_percent(reference_run):
    data = reference_run.json("metrics/imdb_data.json")["train"]
    assert (data["reviews"], data["reviews_pos"], data["reviews_neg"]) == (25000, 12500, 12500)
    assert reference_run.json("metrics/train_imdb/metrics.json")["step"] <= 4  # at most 5 epochs
    assert reference_run.json("metrics/evaluate_imdb/metrics.json")["accuracy"] >= 0.87


def test_lr_change_reruns_training_and_shows_in_metrics_diff(project):
    project.set_params(train_imdb__lr=0.001)
    assert project.stages_run(project.repro("evaluate_imdb").stdout) == ["train_imdb", "evaluate_imdb"]
    diff = project.run("dvc", "metrics", "diff", "--json").stdout
    assert '"accuracy"' in diff and "metrics/evaluate_imdb/metrics.json" in diff


def test_seed_configuration_reaches_the_seeds_accuracy(project):
    project.run("dvc", "exp", "run", "evaluate_imdb", "-S", "train_imdb.optimizer=sgd", "-S", "train_imdb.lr=0.01")
    accuracy = project.json("metrics/evaluate_imdb/metrics.json")["accuracy"]
    assert abs(accuracy - 0.814) <= 0.015


def test_split_tokenizer_report_matches_the_published_counts(project):
    project.run("dvc", "exp", "run", "evaluate_imdb", "-S", "imdb.tokenizer=split", "-S", "imdb.vocab_size=20000")
    train = project.json("metrics/imdb_data.json")["train"]
    assert train["reviews"] == 25000 and train["reviews_pos"] == train["reviews_neg"] == 12500
    assert train["mean_tokens"] == pytest.approx(233.775, abs=1e-3)
    assert (train["distinct_oov_tokens"], train["total_oov_tokens"]) == (260621, 566136)
