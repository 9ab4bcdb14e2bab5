"""Stage fetch_imdb: the first of data.imdb.sources that can be had -> data/raw/aclImdb_v1.tar.gz, sha256-verified."""

from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.fetch import fetch_first
from reprolab.core.params import load_params
from reprolab.core.paths import ARCHIVE

OFFLINE_HINT = "without internet, put a local copy of the archive first in data.imdb.sources, with its sha256"


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("data")
    used = fetch_first(params.data.imdb.sources, ARCHIVE, "data.imdb.sources", OFFLINE_HINT)
    print(f"{ARCHIVE}: from {used}")


if __name__ == "__main__":
    run_stage(main)
