"""Stage train_imdb: the one-hot MLP (or the embedding-mean model) on the encoded reviews, with per-epoch test monitoring."""

from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.device import resolve_device
from reprolab.core.distributed import process_group, processes_planned, relaunch
from reprolab.core.engines import resolve_engine
from reprolab.core.params import load_params
from reprolab.core.paths import IMDB_MODEL, TRAIN_IMDB, imdb_inputs, timings
from reprolab.core.record import RunFiles, train_and_record
from reprolab.imdb.data import load_bags
from reprolab.imdb.models import imdb_graphable
from reprolab.imdb.training import imdb_run


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("train_imdb", "evaluate_imdb")
    train = params.train_imdb
    device = resolve_device(train.device, "train_imdb.device")
    processes = processes_planned(train.processes)
    # checked before torchrun starts the job's processes, which check it again
    resolve_engine(train.engine, device, imdb_graphable(train.model), "train_imdb.engine", processes)
    relaunch(train.processes, device, "train_imdb.processes")
    with process_group(device) as (shard, device):
        data, num_features = load_bags(imdb_inputs(train.model))
        run = imdb_run(train, data, num_features, params.evaluate_imdb.batch_size, device, shard)
        if shard.main:
            print(f"training on {device} with the {run.engine} engine in {shard.world} process(es): "
                  f"{train.model_dump()}")
        train_and_record(run, train, RunFiles(TRAIN_IMDB, IMDB_MODEL, timings("train_imdb.json")), device, shard)


if __name__ == "__main__":
    run_stage(main)
