"""Point params.yaml at local copies of the datasets, so the whole pipeline runs without internet.

    python -m reprolab.offline --imdb ../shared/data/aclImdb_v1_labeled.tar.gz \\
        --fashion-mnist /usr/share/datasets/fashion-mnist [--mnist FOLDER]

Sets data.imdb.url and its sha256, data.<dataset>.source, and images.datasets to the datasets given
(MNIST only with --mnist). Edits params.yaml in place, comments kept, and prints what it changed.
"""

import argparse
import hashlib
from pathlib import Path

from reprolab.cli import run_stage
from reprolab.errors import UserError
from reprolab.params import PARAMS_FILE, load_image_params, load_imdb_params


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def local_settings(imdb: Path, folders: dict[str, Path]) -> dict[str, object]:
    """The dotted params that make the pipeline read these local files."""
    if not imdb.is_file():
        raise UserError(f"{imdb}: no such file (the IMDB archive, --imdb)")
    for name, folder in folders.items():
        if not folder.is_dir():
            raise UserError(f"{folder}: no such folder (the {name} IDX files)")
    settings: dict[str, object] = {"data.imdb.url": str(imdb), "data.imdb.sha256": sha256_of(imdb)}
    settings.update({f"data.{name}.source": str(folder) for name, folder in folders.items()})
    settings["images.datasets"] = list(folders)
    return settings


def apply(settings: dict[str, object], path: Path) -> list[str]:
    """Write the settings into the YAML file at path, keeping its comments; the lines saying what changed."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedSeq

    yaml = YAML()
    yaml.width = 4096
    document = yaml.load(path.read_text())
    changes = []
    for dotted, value in settings.items():
        *sections, key = dotted.split(".")
        target = document
        for section in sections:
            target = target[section]
        if target.get(key) != value:
            changes.append(f"{dotted}: {list(target[key]) if isinstance(target.get(key), list) else target.get(key)!r}"
                           f" -> {value!r}")
            if isinstance(value, list):
                value = CommentedSeq(value)
                value.fa.set_flow_style()  # [a, b], as params.yaml writes its lists
            target[key] = value
    with path.open("w") as file:
        yaml.dump(document, file)
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m reprolab.offline", description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", required=True, type=Path, help="the IMDB .tar.gz")
    parser.add_argument("--fashion-mnist", type=Path, help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--mnist", type=Path, help="folder with the four MNIST IDX files")
    parser.add_argument("--params", type=Path, default=Path(PARAMS_FILE))
    args = parser.parse_args()
    folders = {name: folder for name, folder in (("mnist", args.mnist), ("fashion_mnist", args.fashion_mnist)) if folder}
    if not folders:
        raise UserError("give --fashion-mnist or --mnist (or both): the image track needs one dataset")
    changes = apply(local_settings(args.imdb, folders), args.params)
    load_imdb_params(args.params)
    load_image_params(args.params)
    print("\n".join(changes) if changes else f"{args.params} already reads these local copies")


if __name__ == "__main__":
    run_stage(main)
