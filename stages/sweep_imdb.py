"""Stage sweep@<name>: every point of one course 002 sweep, each trained with sweeps.base and one thing changed.

On CPU the points train side by side, one process per core; on a GPU (or on a few reviews) one after another.
"""

from reprolab.core.atomic import atomic_path, json_text
from reprolab.core.clock import phase
from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.device import resolve_device
from reprolab.core.parallel import side_by_side
from reprolab.core.params import load_params
from reprolab.core.paths import ARCHIVE, imdb_inputs, stage_metrics, timings
from reprolab.core.registry import SWEEPS
from reprolab.imdb.data import load_bags, read_archive
from reprolab.imdb.sweeps import point_name, point_workers, sweep_point



def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("sweep", "one of " + ", ".join(SWEEPS)),))
    params = load_params("imdb", "evaluate_imdb", "sweeps")
    sweep = stage_choice(args.sweep, params.sweeps.listed(), "sweep_imdb: sweep (a key of sweeps.points)")
    device = resolve_device(params.sweeps.base.device, "sweeps.base.device")
    values = params.sweeps.listed()[sweep]
    data = read_archive(ARCHIVE) if sweep == "tokenizer" else load_bags(imdb_inputs(params.sweeps.base.model))
    training = (data if sweep == "tokenizer" else data[0])["train"]
    workers = point_workers(device, len(values), len(training.labels))
    print(f"sweep {sweep}: {len(values)} points, {workers} at a time", flush=True)
    with phase("train"):  # every point trained before any is written
        results = list(side_by_side(sweep_point, [(sweep, value, params, device, data) for value in values], workers))
    with (atomic_path(stage_metrics("sweeps", sweep), directory=True) as metrics_dir,
          atomic_path(timings("sweeps", sweep), directory=True) as timings_dir):
        for value, (metrics, timing) in zip(values, results, strict=True):
            name = f"{point_name(value)}.json"
            (metrics_dir / name).write_text(json_text(metrics, metrics_dir / name))
            (timings_dir / name).write_text(json_text(timing, timings_dir / name))


if __name__ == "__main__":
    run_stage(main)
