from project import REPO


def test_ci_runs_the_readmes_test_command():
    readme = (REPO / "README.md").read_text().splitlines()
    test_command = next(line for line in readme if line.endswith("python -m pytest") and not line.startswith("#"))
    assert test_command in (REPO / ".ci/run").read_text().splitlines()
