"""Stage fetch_imdb: data.imdb.url -> data/raw/aclImdb_v1.tar.gz, sha256-verified."""

from reprolab.cli import parse_stage_args, run_stage
from reprolab.fetch import fetch
from reprolab.params import load_imdb_params

ARCHIVE = "data/raw/aclImdb_v1.tar.gz"
OFFLINE_HINT = (
    "without internet, set data.imdb.url in params.yaml to a local copy of the archive "
    "(a path or file:// URL) and data.imdb.sha256 to its sha256"
)


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_imdb_params()
    fetch(params.fetch.url, params.fetch.sha256, ARCHIVE, "data.imdb.url", OFFLINE_HINT, "param data.imdb.sha256")


if __name__ == "__main__":
    run_stage(main)
