"""Stage train_images@<dataset>-<strategy>: a CNN or MLP on the imbalanced training split, rebalanced by strategy."""

import sys
from dataclasses import asdict

import torch

from reprolab.batches import TensorBatches
from reprolab.cli import run_stage
from reprolab.device import resolve_device, seed_everything
from reprolab.images import load_images, normalized, strategy_batches
from reprolab.models import image_model
from reprolab.params import NUM_IMAGE_CLASSES, STRATEGIES, load_image_params, stage_choice
from reprolab.record import train_and_record
from reprolab.train import loss_function


def main() -> None:
    params = load_image_params()
    name = stage_choice(sys.argv[1], params.datasets, "train_images: dataset (images.datasets)")
    strategy = stage_choice(sys.argv[2], STRATEGIES, "train_images: strategy (images.strategies)")
    train, source = params.train, params.sources[name]
    device = resolve_device(train.device, "train_images.device")
    generator = seed_everything(train.seed, train.deterministic)
    arrays = load_images(f"data/images/{name}.pt")
    kept = torch.load(f"data/images/{name}-kept.pt", weights_only=True)
    images = normalized(arrays["train_images"][kept], source.mean, source.std)
    train_batches, class_weights = strategy_batches(strategy, images, arrays["train_labels"][kept], train.batch_size,
                                                    device, generator, train.seed)
    test_batches = TensorBatches(normalized(arrays["test_images"], source.mean, source.std), arrays["test_labels"],
                                 params.evaluate.batch_size, device)
    config = {"name": train.model, "hidden": train.hidden}
    model = image_model(**config).to(device)
    print(f"training {name} / {strategy} on {device}: {asdict(train)}")
    run = f"{name}/{strategy}"
    train_and_record(model, config, train_batches, test_batches, train,
                     (loss_function("ce", class_weights), loss_function("ce")), num_classes=NUM_IMAGE_CLASSES,
                     device=device, metrics_dir=f"metrics/train_images/{run}", model_path=f"models/images/{run}.pt",
                     timings_path=f"timings/train_images/{run}.json")


if __name__ == "__main__":
    run_stage(main)
