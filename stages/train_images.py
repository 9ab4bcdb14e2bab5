"""Stage train_images@<dataset>: a CNN or MLP on the imbalanced training split, once per strategy in images.strategies.

On CPU the strategies train side by side, one process and one thread each; on a GPU or under torchrun one after another.
"""

from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.device import resolve_device
from reprolab.core.distributed import process_group, processes_planned, relaunch
from reprolab.core.engines import resolve_engine
from reprolab.core.params import load_params
from reprolab.images.training import train_strategies


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),))
    params = load_params("data", "images", "train_images", "evaluate_images")
    name = stage_choice(args.dataset, params.images.datasets, "train_images: dataset (images.datasets)")
    device = resolve_device(params.train_images.device, "train_images.device")
    engine = resolve_engine(params.train_images.engine, device, True, "train_images.engine",
                            processes_planned(params.train_images.processes))
    relaunch(params.train_images.processes, device, "train_images.processes")
    with process_group(device) as (shard, device):
        train_strategies(name, params, device, engine, shard)


if __name__ == "__main__":
    run_stage(main)
