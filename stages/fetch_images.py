"""Stage fetch_images@<dataset>: the four IDX files, validated, cached as data/images/<dataset>.pt."""

import sys

from reprolab.cli import run_stage
from reprolab.images import class_counts, fetch_images
from reprolab.params import load_image_params, stage_choice


def main() -> None:
    params = load_image_params()
    name = stage_choice(sys.argv[1], params.datasets, "fetch_images: dataset (images.datasets)")
    arrays = fetch_images(name, params.sources[name], f"data/images/{name}.pt")
    for split in ("train", "test"):
        print(f"{name} {split}: {len(arrays[f'{split}_labels'])} images, per class {class_counts(arrays[f'{split}_labels'])}")


if __name__ == "__main__":
    run_stage(main)
