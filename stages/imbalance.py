"""Stage imbalance@<dataset>: keep imbalance.fraction of the listed classes in the training split."""

import json
import sys

import torch

from reprolab.atomic import atomic_path
from reprolab.cli import run_stage
from reprolab.images import class_counts, class_names, imbalance_indices, load_images
from reprolab.params import load_image_params, stage_choice
from reprolab.report import grouped_bars_figure, save_figure


def main() -> None:
    params = load_image_params()
    name = stage_choice(sys.argv[1], params.datasets, "imbalance: dataset (images.datasets)")
    labels = load_images(f"data/images/{name}.pt")["train_labels"]
    kept = imbalance_indices(labels, params.imbalance)
    names = class_names(name)
    before, after = class_counts(labels), class_counts(labels[kept])
    figure = grouped_bars_figure(names, {"original": before, "imbalanced": after}, "training samples",
                                 f"{name}: training samples per class")
    with atomic_path(f"metrics/imbalance/{name}", directory=True) as metrics_dir:
        summary = {"train_samples": len(labels), "kept_samples": len(kept), "kept_per_class": dict(zip(names, after, strict=True))}
        (metrics_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        (metrics_dir / "classes.csv").write_text("class,samples\n" + "".join(f"{n},{c}\n" for n, c in zip(names, after, strict=True)))
        save_figure(figure, metrics_dir / "classes.png")
    with atomic_path(f"data/images/{name}-kept.pt") as tmp:
        torch.save(kept, tmp)
    print(f"{name}: kept {len(kept)} of {len(labels)} training images; per class {after}")


if __name__ == "__main__":
    run_stage(main)
