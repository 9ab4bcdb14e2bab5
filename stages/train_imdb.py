"""Stage train_imdb: the one-hot MLP (or the embedding-mean model) on the encoded reviews, with per-epoch test monitoring."""

from dataclasses import asdict

from reprolab.batches import imdb_batches, imdb_data_file
from reprolab.cli import run_stage
from reprolab.device import resolve_device, seed_everything
from reprolab.imdb import load_bags
from reprolab.models import imdb_model, sparse_gradients_allowed
from reprolab.params import load_imdb_params
from reprolab.record import train_and_record
from reprolab.train import loss_function

MODEL = "models/imdb_mlp.pt"
METRICS = "metrics/train_imdb"
TIMINGS = "timings/train_imdb.json"


def main() -> None:
    params = load_imdb_params()
    train = params.train
    device = resolve_device(train.device, "train_imdb.device")
    generator = seed_everything(train.seed, train.deterministic)
    data, num_features = load_bags(imdb_data_file(train.model))
    config = {"num_features": num_features, "hidden": train.hidden, "head": train.head, "mode": train.model}
    if train.model == "embedding_bag":
        config["sparse"] = sparse_gradients_allowed(train.optimizer, train.momentum, train.weight_decay, train.grad_clip)
    model = imdb_model(config).to(device)
    train_batches = imdb_batches(train.model, data["train"], train.batch_size, device, train.shuffle, generator)
    test_batches = imdb_batches(train.model, data["test"], params.evaluate.batch_size, device)
    print(f"training on {device}: {asdict(train)}")
    criterion = loss_function(train.head)
    train_and_record(model, config, train_batches, test_batches, train, (criterion, criterion), num_classes=2,
                     device=device, metrics_dir=METRICS, model_path=MODEL, timings_path=TIMINGS)


if __name__ == "__main__":
    run_stage(main)
