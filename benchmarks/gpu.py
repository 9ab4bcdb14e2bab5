"""The GPU path, from the raw data, in one run: the course's GPU loop vs the graph engine per IMDB epoch, the IMDB step at
batch 1, the image epoch per 1,000 images eager vs graph vs a plain captured loop (with and without deterministic
kernels), optionally the whole `dvc repro report`, and the device and torch version.

Training settings are params.yaml's train_imdb, sweeps.base (the batch-1 step) and train_images (the IMDB model is the
one-hot MLP, `embedding_bag`); the course's loop is course 002's cached dense rows served by a DataLoader and copied to
the GPU per batch.

    python benchmarks/gpu.py --archive ../shared/data/aclImdb_v1_labeled.tar.gz \\
        --fashion-mnist /usr/share/datasets/fashion-mnist --out gpu.json [--pipeline]
"""

import argparse
import hashlib
import tempfile
from pathlib import Path

from reprolab.core.atomic import write_json
from reprolab.core.cli import run_stage
from reprolab.core.params import load_params
from reprolab.images.data import fetch_images, imbalance_indices, normalized
from reprolab.imdb.data import SPLITS, build_vocab, encode_inputs, read_archive, tokenize_reviews
from reprolab.speed.gpu import gpu_benchmark, gpu_table, pipeline_seconds, require_cuda

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True, help="the IMDB .tar.gz")
    parser.add_argument("--fashion-mnist", required=True, help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pipeline", action="store_true", help="also time `dvc repro report` in a fresh copy")
    parser.add_argument("--out", help="write every figure as JSON here")
    args = parser.parse_args()
    device = require_cuda("benchmarks/gpu.py")
    params = load_params("data", "imdb", "imbalance", "train_imdb", "train_images", "sweeps", path=REPO / "params.yaml")
    corpus = tokenize_reviews(read_archive(args.archive), params.imdb.tokenizer)
    bags, num_features = encode_inputs(corpus, build_vocab(corpus, params.imdb.vocab_size), "bags")
    source = params.data.fashion_mnist.model_copy(update={"sources": (args.fashion_mnist,)})
    with tempfile.TemporaryDirectory() as folder:
        arrays = fetch_images("fashion_mnist", source, Path(folder) / "fashion_mnist.pt")
    kept = imbalance_indices(arrays["train_labels"], params.imbalance)
    image_data = {f"{split}_images": normalized(arrays[f"{split}_images"], source.mean, source.std) for split in SPLITS}
    image_data.update({f"{split}_labels": arrays[f"{split}_labels"] for split in SPLITS})
    image_data["train_images"], image_data["train_labels"] = image_data["train_images"][kept], image_data["train_labels"][kept]
    imdb_run = params.train_imdb.model_copy(update={"model": "embedding_bag", "epochs": args.epochs})
    image_run = params.train_images.model_copy(update={"epochs": args.epochs})
    results = gpu_benchmark(bags, num_features, image_data, imdb_run, params.sweeps.base, image_run, device)
    if args.pipeline:
        archive = Path(args.archive).resolve()
        results["pipeline_seconds"] = pipeline_seconds(REPO, {
            "data.imdb.sources": [{"at": str(archive), "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}],
            "data.fashion_mnist.sources": [str(Path(args.fashion_mnist).resolve())], "images.datasets": ["fashion_mnist"]})
    print(gpu_table(results))
    if args.out:
        write_json(args.out, results)


if __name__ == "__main__":
    run_stage(main)
