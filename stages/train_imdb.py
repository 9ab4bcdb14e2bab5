"""Stage train_imdb: the one-hot MLP on the encoded reviews, with per-epoch test monitoring."""

from dataclasses import asdict

from reprolab.batches import BagBatches
from reprolab.cli import run_stage
from reprolab.device import resolve_device, seed_everything
from reprolab.imdb import load_bags
from reprolab.models import OneHotMLP
from reprolab.params import load_imdb_params
from reprolab.record import train_and_record

ENCODED = "data/imdb/encoded.npz"
MODEL = "models/imdb_mlp.pt"
METRICS = "metrics/train_imdb"
TIMINGS = "timings/train_imdb.json"


def main() -> None:
    params = load_imdb_params()
    train = params.train
    device = resolve_device(train.device, "train_imdb.device")
    generator = seed_everything(train.seed, train.deterministic)
    bags, num_features = load_bags(ENCODED)
    config = {"num_features": num_features, "hidden": train.hidden, "head": train.head, "mode": train.model}
    model = OneHotMLP(**config).to(device)
    train_batches = BagBatches(bags["train"], train.batch_size, device, shuffle=train.shuffle, generator=generator)
    test_batches = BagBatches(bags["test"], params.evaluate.batch_size, device)
    print(f"training on {device}: {asdict(train)}")
    train_and_record(model, config, train_batches, test_batches, train, device, METRICS, MODEL, TIMINGS)


if __name__ == "__main__":
    run_stage(main)
