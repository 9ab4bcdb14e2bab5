"""Stage sweep_tables: each sweep's points as a markdown table, a DVC plot and a PNG, all in one process."""

import json
from pathlib import Path

from reprolab.core.atomic import atomic_path, csv_text
from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.errors import UserError
from reprolab.core.params import Sweeps, load_params
from reprolab.core.paths import SWEEP_POINTS, SWEEP_TABLES, stage_metrics
from reprolab.core.registry import SWEEPS
from reprolab.core.report import markdown_table, save_figure, sweep_figure



def read_points(folder: Path, values: tuple, sweep: str) -> list[dict]:
    """The JSON of every listed value, in params order."""
    found = {}
    for path in sorted(folder.glob("*.json")):
        try:
            point = json.loads(path.read_text())
            found[repr(point["value"])] = point
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"{path}: unreadable sweep result ({err}); rerun stage sweep@{sweep}") from None
    missing = [v for v in values if repr(v) not in found]
    if missing:
        raise UserError(f"{folder}: no results for sweeps.points.{sweep} values {missing}; rerun stage sweep@{sweep}")
    return [found[repr(v)] for v in values]


def columns(sweep: str, point: dict) -> dict:
    """The table row of one point: value, test accuracy and perplexity, then the sweep's own columns."""
    row = {SWEEPS[sweep].label: str(point["value"]), "test accuracy": point["test_accuracy"],
           "test perplexity": point["test_perplexity"]}
    return row | {header: cell(point) for header, cell in SWEEPS[sweep].columns.items()}


def sweep_title(sweep: str, params: Sweeps) -> str:
    """What the sweep changes and the base it changes it from, the swept key left out."""
    base = params.base
    setup = {"optimizer": base.optimizer, "lr": f"lr {base.lr}", "batch_size": f"batch {base.batch_size}",
             "epochs": f"{base.epochs} epochs", "head": f"{base.head} head"}
    setup.pop(SWEEPS[sweep].key or "", None)
    return f"sweep of {SWEEPS[sweep].label}: " + ", ".join(setup.values())


def write_table(sweep: str, params: Sweeps, points: list[dict], tables: Path, points_dir: Path) -> None:
    """One sweep's table and figure into tables/<sweep>/, its points into points_dir/<sweep>.csv."""
    rows = [columns(sweep, p) for p in points]
    table = markdown_table(list(rows[0]), [list(r.values()) for r in rows])
    title = sweep_title(sweep, params)
    figure = sweep_figure(sweep, [str(v) for v in params.listed()[sweep]], [p["test_accuracy"] for p in points], title)
    (tables / sweep).mkdir()
    (tables / sweep / "table.md").write_text(f"### {title}\n\n" + table)
    save_figure(figure, tables / sweep / f"{sweep}.png")
    (points_dir / f"{sweep}.csv").write_text(csv_text(["value", "test_accuracy"],
                                                      ((p["value"], p["test_accuracy"]) for p in points)))
    print(table)


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("sweeps").sweeps
    results = {sweep: read_points(stage_metrics("sweeps", sweep), values, sweep)
               for sweep, values in params.listed().items()}  # every sweep read before any writing
    with atomic_path(SWEEP_TABLES, directory=True) as tables, atomic_path(SWEEP_POINTS, directory=True) as points_dir:
        for sweep, points in results.items():
            write_table(sweep, params, points, tables, points_dir)


if __name__ == "__main__":
    run_stage(main)
