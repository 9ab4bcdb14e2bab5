"""Every artifact path of the pipeline, spelled once: the stages read and write these, and tests/test_paths.py checks
that dvc.yaml's deps and outs are these paths."""

from pathlib import Path

ARCHIVE = Path("data/raw/aclImdb_v1.tar.gz")
TOKENS = Path("data/imdb/tokens")
VOCAB = Path("data/imdb/vocab.json")
IMDB_DATA = Path("metrics/imdb_data.json")
IMDB_INPUTS = Path("data/imdb/inputs")  # one file per train_imdb.model, in the form that model reads
IMDB_MODEL = Path("models/imdb_mlp.pt")
TRAIN_IMDB = Path("metrics/train_imdb")
EVALUATE_IMDB = Path("metrics/evaluate_imdb")
SWEEP_TABLES, SWEEP_POINTS = Path("reports/sweeps"), Path("reports/sweep_points")
OVERFIT = Path("reports/overfit")
IMAGES = Path("data/images")
METRICS, REPORTS = Path("metrics"), Path("reports")
TIMINGS = Path("timings")  # run logs, git-ignored: every stage's times, apart from its results


def imdb_inputs(model: str) -> Path:
    return IMDB_INPUTS / f"{model}.npz"


def images_file(dataset: str) -> Path:
    return IMAGES / f"{dataset}.pt"


def kept_file(dataset: str) -> Path:
    """The training rows imbalance keeps."""
    return IMAGES / f"{dataset}-kept.pt"


def image_models(dataset: str) -> Path:
    return Path(f"models/images/{dataset}")


def stage_metrics(stage: str, item: str = "") -> Path:
    """metrics/<stage>[/<item>]: a stage's DVC metrics and plots, per dataset or sweep where it has several."""
    return METRICS / stage / item


def evaluation_reports(dataset: str) -> Path:
    """Per-class reports of evaluate_images, kept in the DVC cache."""
    return Path(f"reports/evaluate_images/{dataset}")


def timings(stage: str, item: str = "") -> Path:
    return TIMINGS / stage / item
