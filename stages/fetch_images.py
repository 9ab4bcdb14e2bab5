"""Stage fetch_images@<dataset>: the four IDX files, validated, cached as one file (paths.images_file)."""

from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.params import load_params
from reprolab.core.paths import images_file
from reprolab.images.data import class_counts, fetch_images


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),))
    params = load_params("data", "images")
    name = stage_choice(args.dataset, params.images.datasets, "fetch_images: dataset (images.datasets)")
    arrays = fetch_images(name, getattr(params.data, name), images_file(name))
    for split in ("train", "test"):
        print(f"{name} {split}: {len(arrays[f'{split}_labels'])} images, per class {class_counts(arrays[f'{split}_labels'])}")


if __name__ == "__main__":
    run_stage(main)
