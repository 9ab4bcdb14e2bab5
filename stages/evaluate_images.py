"""Stage evaluate_images@<dataset>-<strategy>: accuracy, per-class report and confusion matrix on the whole test split."""

from reprolab.batches import TensorBatches
from reprolab.cli import parse_stage_args, run_stage
from reprolab.device import resolve_device
from reprolab.images import load_images, normalized
from reprolab.models import image_model
from reprolab.params import load_image_params, stage_choice
from reprolab.registry import STRATEGIES
from reprolab.record import evaluate_and_record, load_checkpoint
from reprolab.train import loss_function


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),
                                                ("strategy", "one of images.strategies")))
    params = load_image_params()
    name = stage_choice(args.dataset, params.datasets, "evaluate_images: dataset (images.datasets)")
    strategy = stage_choice(args.strategy, STRATEGIES, "evaluate_images: strategy (images.strategies)")
    device = resolve_device(params.train.device, "train_images.device")
    config, state = load_checkpoint(f"models/images/{name}/{strategy}.pt", device)
    model = image_model(**config).to(device)
    model.load_state_dict(state)
    arrays, source = load_images(f"data/images/{name}.pt"), params.sources[name]
    test_batches = TensorBatches(normalized(arrays["test_images"], source.mean, source.std), arrays["test_labels"],
                                 params.evaluate.batch_size, device)
    result = evaluate_and_record(model, test_batches, loss_function("ce"), arrays["classes"],
                                 f"metrics/evaluate_images/{name}/{strategy}", params.train.precision,
                                 f"{name}, {strategy}")
    print(f"{name} / {strategy}: test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")


if __name__ == "__main__":
    run_stage(main)
