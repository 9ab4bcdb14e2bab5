"""Every stage depends on exactly the code it runs: its script and the reprolab modules it imports, transitively."""

import ast
import json
from pathlib import Path

import pytest
import yaml

from conftest import write_imdb_archive
from project import REPO, Project

PACKAGE = "src/reprolab"


def module_file(name: str) -> Path | None:
    """The source file of a dotted reprolab module or package, relative to the repository; None if there is none."""
    path = Path("src", *name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if (REPO / candidate).is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """The reprolab modules a file imports anywhere (top level or inside functions), as src/ paths.

    Only absolute `import reprolab.x` / `from reprolab.x import ...` count: relative and dynamic imports are
    refused by test_imports_are_absolute_and_static, so this reading sees every import there is.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "reprolab":
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if module_file(f"{node.module}.{alias.name}")}  # from reprolab.imdb import batches
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("reprolab.")}
    files = set()
    for name in found:
        file = module_file(name)
        assert file is not None, f"{path}: imports {name}, which does not exist"
        files.add(str(file))
    return files


def code_run_by(script: str) -> set[str]:
    """script and every src/reprolab file it reaches through imports."""
    files, todo = {script}, [script]
    while todo:
        for module in imported_modules(REPO / todo.pop()):
            if module not in files:
                files.add(module)
                todo.append(module)
    return files


def folders_run_by(script: str) -> set[str]:
    """The package folders (src/reprolab/<track>) whose code script runs: what its stage lists beside the script."""
    return {"/".join(Path(file).parts[:3]) for file in code_run_by(script) if len(Path(file).parts) > 3}


def stages() -> dict[str, dict]:
    """dvc.yaml's stages as written (foreach/matrix templates unexpanded)."""
    return {name: stage.get("do", stage) for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items()}


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_deps_are_its_script_and_the_folders_of_the_code_it_runs(name):
    stage = stages()[name]
    script = stage["cmd"].split()[1]
    listed = {dep for dep in stage["deps"] if dep.startswith(("stages/", "src/"))}
    expected = {script} | folders_run_by(script)
    assert not expected - listed, f"stage {name} runs but does not depend on {sorted(expected - listed)}"
    assert not listed - expected, f"stage {name} depends on code it does not run: {sorted(listed - expected)}"


def dynamic_or_relative_imports(path: Path) -> list[str]:
    """The imports in a file that the deps reading would miss: relative ones, importlib and __import__ calls."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import ...")
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("importlib.import_module", "import_module", "__import__") or name.endswith("import_module"):
                found.append(f"line {node.lineno}: {name}(...)")
    return found


@pytest.mark.parametrize("path", sorted([*REPO.glob("src/reprolab/**/*.py"), *REPO.glob("stages/*.py")]),
                         ids=lambda path: str(path.relative_to(REPO)))
def test_imports_are_absolute_and_static(path):
    assert dynamic_or_relative_imports(path) == [], f"{path.relative_to(REPO)}: write `from reprolab.x import y`"


def test_relative_and_dynamic_imports_are_found(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from . import sweeps\nimport importlib\ndef f():\n    importlib.import_module('reprolab.imdb.sweeps')\n"
                      "    __import__('reprolab.core.train')\n")
    assert dynamic_or_relative_imports(module) == ["line 1: from . import ...",
                                                   "line 4: importlib.import_module(...)", "line 5: __import__(...)"]


def test_package_init_runs_no_code():
    """Every stage imports src/reprolab/__init__.py, which is why no stage lists it: it must hold nothing that matters."""
    tree = ast.parse((REPO / PACKAGE / "__init__.py").read_text())
    kinds = [type(node).__name__ for node in tree.body]
    assert kinds in (["Expr", "Assign"], ["Expr"]), f"__init__.py holds {kinds}: list it in every stage's deps"


def test_editing_evaluation_code_makes_evaluation_stale(tmp_path):
    project = Project(tmp_path / "repo")
    project.use_archive(write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz"))
    project.set_params(imdb__vocab_size=8, train_imdb__epochs=1, train_imdb__batch_size=2, train_imdb__device="cpu")
    project.repro("evaluate_imdb")
    assert json.loads(project.run("dvc", "status", "--json", "evaluate_imdb").stdout) == {}
    record = project.root / PACKAGE / "core/record.py"
    source = record.read_text()
    marker = "    result = evaluate(model, batches, criterion, precision)\n"
    assert marker in source
    record.write_text(source.replace(marker, marker + "    result.loss = float(result.loss)\n"))
    status = json.loads(project.run("dvc", "status", "--json", "evaluate_imdb").stdout)
    changed = [entry["changed deps"] for entry in status["evaluate_imdb"] if "changed deps" in entry]
    assert changed and changed[0] == {f"{PACKAGE}/core": "modified"}


def test_editing_the_imdb_track_leaves_the_image_track_cached():
    """The image stages run no IMDB code, so editing an IMDB model or the sweeps leaves them cached."""
    readers = {name for name, stage in stages().items() if f"{PACKAGE}/imdb" in stage["deps"]}
    assert readers == {"tokenize_imdb", "build_vocab", "encode_imdb", "train_imdb", "evaluate_imdb",
                       "benchmark_step", "benchmark_gpu", "overfit_imdb", "sweep"}
