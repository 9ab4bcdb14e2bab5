"""Stage train_imdb: the one-hot MLP (or the embedding-mean model) on the encoded reviews, with per-epoch test monitoring."""

from dataclasses import asdict

from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.device import resolve_device, seed_everything
from reprolab.core.distributed import process_group, processes_planned, relaunch
from reprolab.core.engines import resolve_engine
from reprolab.core.params import load_imdb_params
from reprolab.core.paths import IMDB_MODEL, TRAIN_IMDB, imdb_inputs, timings
from reprolab.core.record import train_and_record
from reprolab.core.train import bags_bytes, build_model, loss_function, require_batch_fits, require_device_memory
from reprolab.imdb.data import load_bags
from reprolab.imdb.models import imdb_batches, imdb_config, imdb_graphable, imdb_model



def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_imdb_params()
    train = params.train
    device = resolve_device(train.device, "train_imdb.device")
    processes = processes_planned(train.processes)
    engine = resolve_engine(train.engine, device, imdb_graphable(train.model), "train_imdb.engine", processes)
    relaunch(train.processes, device, "train_imdb.processes")
    with process_group(device) as (shard, device):
        generator = seed_everything(train.seed, train.deterministic)
        data, num_features = load_bags(imdb_inputs(train.model))
        require_batch_fits(train, len(data["train"]), "training reviews")
        require_device_memory(bags_bytes([data["train"], data["test"]], engine == "graph"), device,
                              "the encoded reviews", "train_imdb.device")
        config = imdb_config(train, num_features, shard.world)
        model = build_model(lambda: imdb_model(config), train, device, "train_imdb.hidden and imdb.vocab_size")
        train_batches = imdb_batches(train.model, data["train"], train.batch_size, device, train.shuffle, generator,
                                     shard)
        test_batches = imdb_batches(train.model, data["test"], params.evaluate.batch_size, device)
        if shard.main:
            print(f"training on {device} with the {engine} engine in {shard.world} process(es): {asdict(train)}")
        criterion = loss_function(train.head)
        train_and_record(model, config, train_batches, test_batches, train, (criterion, criterion), num_classes=2,
                         device=device, metrics_dir=TRAIN_IMDB, model_path=IMDB_MODEL, timings_path=timings("train_imdb.json"), engine=engine,
                         shard=shard)


if __name__ == "__main__":
    run_stage(main)
