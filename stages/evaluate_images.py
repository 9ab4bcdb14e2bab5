"""Stage evaluate_images@<dataset>: each strategy's accuracy, per-class report and confusion matrix on the test split."""

from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.device import resolve_device
from reprolab.core.params import load_params
from reprolab.images.evaluation import evaluate_strategies


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),))
    params = load_params("data", "images", "train_images", "evaluate_images")
    name = stage_choice(args.dataset, params.images.datasets, "evaluate_images: dataset (images.datasets)")
    device = resolve_device(params.train_images.device, "train_images.device")
    for strategy, result in evaluate_strategies(name, params, device).items():
        print(f"{name} / {strategy}: test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")


if __name__ == "__main__":
    run_stage(main)
