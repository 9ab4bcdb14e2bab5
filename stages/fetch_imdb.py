"""Stage fetch_imdb: data.imdb.url -> data/raw/aclImdb_v1.tar.gz, sha256-verified."""

from reprolab.cli import run_stage
from reprolab.fetch import fetch
from reprolab.params import load_imdb_params

ARCHIVE = "data/raw/aclImdb_v1.tar.gz"
OFFLINE_HINT = (
    "without internet, set data.imdb.url in params.yaml to a local copy of the archive "
    "(a path or file:// URL) and data.imdb.sha256 to its sha256"
)


def main() -> None:
    params = load_imdb_params()
    fetch(params.fetch.url, params.fetch.sha256, ARCHIVE, "data.imdb", OFFLINE_HINT)


if __name__ == "__main__":
    run_stage(main)
