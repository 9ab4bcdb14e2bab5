"""The committed reference run comes out of the committed code: a fresh clone's `dvc repro` changes no result file."""

import json

import pytest

from test_plots_offline import render_count, rendered

pytestmark = pytest.mark.e2e


def changed_files(project) -> list[str]:
    return [line[3:] for line in project.run("git", "status", "--porcelain").stdout.splitlines()]


def test_the_committed_results_come_out_of_the_committed_code(reference_run):
    changed = changed_files(reference_run)
    assert not changed, (f"the committed reference run no longer comes out of the code: {', '.join(changed)} changed; "
                         "run `dvc repro` and commit dvc.lock, metrics/ and reports/ with the change")
    assert json.loads(reference_run.run("dvc", "metrics", "diff", "--json").stdout or "{}") == {}
    shown = json.loads(reference_run.run("dvc", "metrics", "show", "--json").stdout)
    assert not [error for revision in shown.values() for error in [revision.get("error")] if error]


def test_a_second_repro_runs_nothing(reference_run):
    assert reference_run.stages_run(reference_run.repro().stdout) == []


def test_a_fixed_typo_restores_training_from_the_run_cache(experiment_clone):
    """DVC removes a stage's outputs before it runs; a failed run, fixed, takes them back from the run-cache."""
    model = (experiment_clone.root / "models/imdb_mlp.pt").read_bytes()
    params = (experiment_clone.root / "params.yaml").read_text()
    (experiment_clone.root / "params.yaml").write_text(params.replace("  lr: 0.0001\n", "  lr: 0.0001\n  lerning_rate: 0.1\n", 1))
    failed = experiment_clone.repro("evaluate_imdb", check=False)
    assert failed.returncode != 0 and "unknown key train_imdb.lerning_rate" in failed.stderr + failed.stdout
    assert not (experiment_clone.root / "models/imdb_mlp.pt").exists()
    experiment_clone.run("git", "checkout", "params.yaml")
    fixed = experiment_clone.repro("evaluate_imdb").stdout
    assert "Stage 'train_imdb' is cached - skipping run, checking out outputs" in fixed
    assert experiment_clone.stages_run(fixed) == []
    assert (experiment_clone.root / "models/imdb_mlp.pt").read_bytes() == model
    assert changed_files(experiment_clone) == []


def test_every_plot_renders_offline(reference_run, tmp_path):
    reference_run.run("dvc", "plots", "show", "-o", str(tmp_path / "plots"))
    page = (tmp_path / "plots/index.html").read_text()
    views = page.count("vegaEmbed(")
    assert views >= 10 and "cdn.jsdelivr" not in page
    assert render_count(rendered(tmp_path / "plots/index.html", tmp_path)) == views
