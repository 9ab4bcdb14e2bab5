"""Stage batch_composition@<dataset>: class counts per batch with and without the weighted sampler (course 000, 3.1)."""

import torch

from reprolab.core.atomic import atomic_path, csv_text
from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.params import load_params
from reprolab.core.paths import images_file, kept_file, stage_metrics
from reprolab.core.report import save_figure, stacked_counts_figure
from reprolab.images.data import batch_class_counts, load_images, load_kept, strategy_batches

NUM_BATCHES = 30


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),))
    params = load_params("images", "imbalance", "train_images")
    name = stage_choice(args.dataset, params.images.datasets, "batch_composition: dataset (images.datasets)")
    arrays = load_images(images_file(name))
    labels = arrays["train_labels"][load_kept(kept_file(name))]
    panels = {}
    for strategy, title in (("none", "shuffled, no sampler"), ("weighted_sampler", "WeightedRandomSampler")):
        generator = torch.Generator().manual_seed(params.train_images.seed)
        # only the labels matter here, so they stand in for the images too
        batches, _ = strategy_batches(strategy, labels, labels, params.train_images.batch_size, torch.device("cpu"),
                                      generator, params.train_images.seed)
        panels[title] = batch_class_counts(batches, NUM_BATCHES)
    minority = list(params.imbalance.classes)
    figure = stacked_counts_figure(panels, arrays["classes"], f"{name}: class counts in the first {NUM_BATCHES} batches")
    with atomic_path(stage_metrics("batch_composition", name), directory=True) as out:
        for (strategy, counts) in zip(("none", "weighted_sampler"), panels.values(), strict=True):
            share = counts[:, minority].sum(1) / counts.sum(1)
            (out / f"{strategy}.csv").write_text(csv_text(["batch", "minority_share"],
                                                          ((i, f"{s:.6f}") for i, s in enumerate(share, 1))))
        save_figure(figure, out / "composition.png")
    for title, counts in panels.items():
        print(f"{title}: minority classes {minority} make up {counts[:, minority].sum() / counts.sum():.1%} of the first {NUM_BATCHES} batches")


if __name__ == "__main__":
    run_stage(main)
