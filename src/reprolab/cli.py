"""Entry-point helper shared by the stage scripts."""

import sys
from collections.abc import Callable

from reprolab.errors import UserError


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a UserError becomes one line on stderr and exit status 1."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
