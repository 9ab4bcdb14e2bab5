"""Stage train_imdb: the one-hot MLP on the encoded reviews, with per-epoch test monitoring."""

from dataclasses import asdict

from reprolab.batches import BagBatches
from reprolab.cli import run_stage
from reprolab.device import resolve_device, seed_everything
from reprolab.imdb import load_bags
from reprolab.models import OneHotMLP, sparse_gradients_allowed
from reprolab.params import load_imdb_params
from reprolab.record import train_and_record
from reprolab.train import loss_function

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
    sparse = train.model == "embedding_bag" and sparse_gradients_allowed(train.optimizer, train.momentum,
                                                                        train.weight_decay, train.grad_clip)
    config = {"num_features": num_features, "hidden": train.hidden, "head": train.head, "mode": train.model,
              "sparse": sparse}
    model = OneHotMLP(**config).to(device)
    train_batches = BagBatches(bags["train"], train.batch_size, device, shuffle=train.shuffle, generator=generator)
    test_batches = BagBatches(bags["test"], params.evaluate.batch_size, device)
    print(f"training on {device}: {asdict(train)}")
    criterion = loss_function(train.head)
    train_and_record(model, config, train_batches, test_batches, train, (criterion, criterion), num_classes=2,
                     device=device, metrics_dir=METRICS, model_path=MODEL, timings_path=TIMINGS)


if __name__ == "__main__":
    run_stage(main)
