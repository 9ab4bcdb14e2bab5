"""Stage imbalance@<dataset>: keep imbalance.fraction of the listed classes in the training split."""

from reprolab.atomic import atomic_path, csv_text, json_text, save_torch
from reprolab.cli import parse_stage_args, run_stage
from reprolab.images import class_counts, imbalance_indices, load_images
from reprolab.params import load_image_params, stage_choice
from reprolab.report import grouped_bars_figure, save_figure


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),))
    params = load_image_params()
    name = stage_choice(args.dataset, params.datasets, "imbalance: dataset (images.datasets)")
    arrays = load_images(f"data/images/{name}.pt")
    labels, names = arrays["train_labels"], arrays["classes"]
    kept = imbalance_indices(labels, params.imbalance)
    before, after = class_counts(labels), class_counts(labels[kept])
    figure = grouped_bars_figure(names, {"original": before, "imbalanced": after}, "training samples",
                                 f"{name}: training samples per class")
    with atomic_path(f"metrics/imbalance/{name}", directory=True) as metrics_dir:
        summary = {"train_samples": len(labels), "kept_samples": len(kept), "kept_per_class": dict(zip(names, after, strict=True))}
        (metrics_dir / "metrics.json").write_text(json_text(summary, metrics_dir / "metrics.json"))
        (metrics_dir / "classes.csv").write_text(csv_text(["class", "samples"], zip(names, after, strict=True)))
        save_figure(figure, metrics_dir / "classes.png")
    save_torch(f"data/images/{name}-kept.pt", kept)
    print(f"{name}: kept {len(kept)} of {len(labels)} training images; per class {after}")


if __name__ == "__main__":
    run_stage(main)
