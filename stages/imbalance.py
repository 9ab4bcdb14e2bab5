"""Stage imbalance@<dataset>: keep imbalance.fraction of the listed classes in the training split."""

from reprolab.core.atomic import atomic_path, csv_text, json_text, save_torch
from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.params import load_params
from reprolab.core.paths import images_file, kept_file, stage_metrics
from reprolab.core.report import grouped_bars_figure, save_figure
from reprolab.images.data import class_counts, imbalance_indices, load_images


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),))
    params = load_params("images", "imbalance")
    name = stage_choice(args.dataset, params.images.datasets, "imbalance: dataset (images.datasets)")
    arrays = load_images(images_file(name))
    labels, names = arrays["train_labels"], arrays["classes"]
    rows = imbalance_indices(labels, params.imbalance)
    before, after = class_counts(labels), class_counts(labels[rows])
    figure = grouped_bars_figure(names, {"original": before, "imbalanced": after}, "training samples",
                                 f"{name}: training samples per class")
    with atomic_path(stage_metrics("imbalance", name), directory=True) as metrics_dir:
        summary = {"train_samples": len(labels), "kept_samples": len(rows), "kept_per_class": dict(zip(names, after, strict=True))}
        (metrics_dir / "metrics.json").write_text(json_text(summary, metrics_dir / "metrics.json"))
        (metrics_dir / "classes.csv").write_text(csv_text(["class", "samples"], zip(names, after, strict=True)))
        save_figure(figure, metrics_dir / "classes.png")
    save_torch(kept_file(name), rows)
    print(f"{name}: kept {len(rows)} of {len(labels)} training images; per class {after}")


if __name__ == "__main__":
    run_stage(main)
