"""Tiny fixtures in the real formats."""

import io
import os
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ORDER_SEED = 20261130


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """pytest-randomly (requirements-dev) shuffles the tests with a fixed seed, so a failure repeats; every test must
    pass alone and in any order: --randomly-seed=N gives another order, -p no:randomly the files' own."""
    if config.pluginmanager.hasplugin("randomly") and config.getoption("randomly_seed") == "default":
        config.option.randomly_seed = ORDER_SEED

REVIEWS = {
    ("train", "pos", 0, 9): "A great film. Great acting!",
    ("train", "pos", 1, 8): "loved it, loved the cast",
    ("train", "pos", 2, 10): "great great fun",
    ("train", "neg", 0, 1): "A boring film; bad acting.",
    ("train", "neg", 1, 2): "bad bad plot, boring",
    ("train", "neg", 2, 3): "awful",
    ("test", "pos", 0, 7): "great cast",
    ("test", "pos", 1, 9): "Loved it",
    ("test", "neg", 0, 2): "boring and bad",
    ("test", "neg", 1, 4): "unseen words only",
}


def write_imdb_archive(path: Path, reviews: dict = REVIEWS, extra: dict | None = None) -> Path:
    """A .tar.gz laid out like aclImdb_v1.tar.gz, members in a scrambled order."""
    members = {f"aclImdb/{split}/{cls}/{rid}_{rating}.txt": text for (split, cls, rid, rating), text in reviews.items()}
    members.update(extra or {})
    with tarfile.open(path, "w:gz") as archive:
        for name in sorted(members, reverse=True):
            data = members[name].encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def imdb_archive(tmp_path: Path) -> Path:
    return write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz")


@pytest.fixture
def default_params() -> dict:
    """The committed params.yaml, whatever the working copy's says."""
    from project import committed_params

    return yaml.safe_load(committed_params())


def write_idx_folder(folder: Path, train: int = 120, test: int = 40, seed: int = 0, compress: bool = True,
                     size: int = 28) -> dict:
    """The four MNIST IDX files with random size x size images, every class present; returns their decompressed md5s."""
    import hashlib

    import numpy as np

    from reprolab.images.idx import write_idx

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for prefix, count in (("train", train), ("t10k", test)):
        labels = (np.arange(count) % 10).astype(np.uint8)
        images = rng.integers(0, 256, size=(count, size, size), dtype=np.uint8)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            name = f"{prefix}-{kind}"
            write_idx(folder / (f"{name}.gz" if compress else name), array, compress=compress)
            header = (b"\x00\x00\x08\x03" if array.ndim == 3 else b"\x00\x00\x08\x01")
            header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
            md5[name] = hashlib.md5(header + array.tobytes()).hexdigest()
    return md5


def require_real_data(path: Path, env_var: str, hint: str) -> None:
    """Skip when real data is absent; fail instead when env_var names it (CI sets it)."""
    if path.exists():
        return
    if env_var in os.environ:
        pytest.fail(f"{env_var}={path} does not exist")
    pytest.skip(f"{hint} not found at {path}")


FASHION_MNIST = Path(os.environ.get("REPROLAB_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def imdb_archive_path() -> Path:
    """The real IMDB archive: REPROLAB_IMDB_ARCHIVE, or ../shared/data beside the repository."""
    return Path(os.environ.get("REPROLAB_IMDB_ARCHIVE", REPO.parent / "shared/data/aclImdb_v1_labeled.tar.gz"))


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """A fresh clone of the last commit with the whole pipeline run in it, as the README says: `dvc repro`.

    The clone sits beside a `shared/data` holding the real archive, where the committed params look first.
    Tests that change the workspace use `experiment_clone` instead.
    """
    from project import Project

    archive = imdb_archive_path()
    require_real_data(archive, "REPROLAB_IMDB_ARCHIVE", "the real IMDB archive")
    require_real_data(FASHION_MNIST, "REPROLAB_FASHION_MNIST", "Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    if str(FASHION_MNIST) != "/usr/share/datasets/fashion-mnist":  # the committed params name Debian's folder
        pytest.skip("the reference run reads Fashion-MNIST from /usr/share/datasets/fashion-mnist")
    root = tmp_path_factory.mktemp("reference")
    (root / "shared/data").mkdir(parents=True)
    (root / "shared/data/aclImdb_v1_labeled.tar.gz").symlink_to(archive.resolve())
    project = Project.clone(REPO, root / "repo")
    project.repro()
    return project


@pytest.fixture
def experiment_clone(reference_run, tmp_path):
    """A clone of the reference run's repository sharing its DVC cache, outputs checked out: a workspace to change."""
    from project import Project

    (tmp_path / "shared").symlink_to(reference_run.root.parent / "shared")
    project = Project.clone(reference_run, tmp_path / "repo")
    project.run("dvc", "cache", "dir", "--local", str(reference_run.root / ".dvc/cache"))
    project.run("dvc", "checkout")
    return project
