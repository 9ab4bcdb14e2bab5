"""The real pipeline on the real IMDB archive (../shared/data), as the issue's acceptance checks."""

import pytest

from conftest import imdb_project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return imdb_project(tmp_path_factory.mktemp("e2e") / "repo", train_imdb__device="cpu")


def test_defaults_reach_87_percent_and_rerun_nothing(project):
    project.repro("evaluate_imdb")
    data = project.json("metrics/imdb_data.json")["train"]
    assert (data["reviews"], data["reviews_pos"], data["reviews_neg"]) == (25000, 12500, 12500)
    assert project.json("metrics/train_imdb/metrics.json")["step"] <= 4  # at most 5 epochs
    assert project.json("metrics/evaluate_imdb/metrics.json")["accuracy"] >= 0.87
    assert project.stages_run(project.repro("evaluate_imdb").stdout) == []
    project.commit("defaults")


def test_lr_change_reruns_training_and_shows_in_metrics_diff(project):
    project.set_params(train_imdb__lr=0.001)
    assert project.stages_run(project.repro("evaluate_imdb").stdout) == ["train_imdb", "evaluate_imdb"]
    diff = project.run("dvc", "metrics", "diff", "--json").stdout
    assert '"accuracy"' in diff and "metrics/evaluate_imdb/metrics.json" in diff
    project.run("git", "checkout", "params.yaml")
    project.run("dvc", "checkout", "--with-deps", "evaluate_imdb")


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
