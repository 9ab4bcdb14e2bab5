"""Stage train_images@<dataset>-<strategy>: a CNN or MLP on the imbalanced training split, rebalanced by strategy."""

from dataclasses import asdict

from reprolab.batches import TensorBatches
from reprolab.cli import parse_stage_args, run_stage
from reprolab.device import resolve_device, seed_everything
from reprolab.distributed import process_group, processes_planned, relaunch
from reprolab.engines import resolve_engine
from reprolab.images import load_images, load_kept, normalized, strategy_batches
from reprolab.models import image_model
from reprolab.params import NUM_IMAGE_CLASSES, load_image_params, stage_choice
from reprolab.registry import STRATEGIES
from reprolab.record import train_and_record
from reprolab.train import build_model, loss_function, require_batch_fits, require_device_memory


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),
                                                ("strategy", "one of images.strategies")))
    params = load_image_params()
    name = stage_choice(args.dataset, params.datasets, "train_images: dataset (images.datasets)")
    strategy = stage_choice(args.strategy, STRATEGIES, "train_images: strategy (images.strategies)")
    train, source = params.train, params.sources[name]
    device = resolve_device(train.device, "train_images.device")
    engine = resolve_engine(train.engine, device, True, "train_images.engine", processes_planned(train.processes))
    relaunch(train.processes, device, "train_images.processes")
    with process_group(device) as (shard, device):
        generator = seed_everything(train.seed, train.deterministic)
        arrays = load_images(f"data/images/{name}.pt")
        kept = load_kept(f"data/images/{name}-kept.pt")
        require_device_memory(4 * (len(kept) + len(arrays["test_labels"])) * 28 * 28, device, "the normalised images",
                              "train_images.device")
        images = normalized(arrays["train_images"][kept], source.mean, source.std)
        train_batches, class_weights = strategy_batches(strategy, images, arrays["train_labels"][kept],
                                                        train.batch_size, device, generator, train.seed, shard)
        require_batch_fits(train, len(train_batches.labels), f"{name} training images that {strategy} keeps")
        test_batches = TensorBatches(normalized(arrays["test_images"], source.mean, source.std), arrays["test_labels"],
                                     params.evaluate.batch_size, device)
        config = {"name": train.model, "hidden": train.hidden}
        model = build_model(lambda: image_model(**config), train, device, "train_images.hidden")
        if shard.main:
            print(f"training {name} / {strategy} on {device} with the {engine} engine in {shard.world} process(es): "
                  f"{asdict(train)}")
        run = f"{name}/{strategy}"
        train_and_record(model, config, train_batches, test_batches, train,
                         (loss_function("ce", class_weights), loss_function("ce")), num_classes=NUM_IMAGE_CLASSES,
                         device=device, metrics_dir=f"metrics/train_images/{run}",
                         model_path=f"models/images/{run}.pt", timings_path=f"timings/train_images/{run}.json",
                         engine=engine, shard=shard)

if __name__ == "__main__":
    run_stage(main)
