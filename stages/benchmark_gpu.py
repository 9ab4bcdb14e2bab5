"""Stage benchmark_gpu@<device>: the course's GPU loop vs the graph engine per IMDB epoch, the IMDB step at batch 1, image
epochs eager vs graph vs a plain captured loop."""

from pathlib import Path

import torch

from reprolab.core.atomic import atomic_path, json_text
from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.params import Data, load_params
from reprolab.core.paths import images_file, imdb_inputs, kept_file, timings
from reprolab.images.data import load_images, load_kept, normalized
from reprolab.imdb.data import load_bags
from reprolab.speed.gpu import gpu_benchmark, gpu_table, pipeline_seconds, require_cuda

OUT = timings("benchmark_gpu")


def _absolute(location: str) -> str:
    return location if "://" in location or location == "download" else str(Path(location).expanduser().resolve())


def local_sources(data: Data) -> dict:
    """The data params with local paths made absolute, so a copy of the repository elsewhere finds the same files."""
    absolute: dict = {"data.imdb.sources": [{"at": _absolute(s.at), "sha256": s.sha256} for s in data.imdb.sources]}
    for name, source in data:
        if name != "imdb":
            absolute[f"data.{name}.sources"] = [_absolute(folder) for folder in source.sources]
    return absolute


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("device", "one of benchmark_gpu.devices"),))
    loaded = load_params("data", "train_imdb", "train_images", "sweeps", "benchmark_gpu")
    params = loaded.benchmark_gpu
    device_name = stage_choice(args.device, params.devices, "benchmark_gpu: device (benchmark_gpu.devices)")
    require_cuda(f"benchmark_gpu@{device_name}")
    device = torch.device(device_name)
    bags, num_features = load_bags(imdb_inputs("embedding_bag"))
    arrays = load_images(images_file(params.dataset))
    kept, source = load_kept(kept_file(params.dataset)), getattr(loaded.data, params.dataset)
    image_data = {"train_images": normalized(arrays["train_images"][kept], source.mean, source.std),
                  "train_labels": arrays["train_labels"][kept],
                  "test_images": normalized(arrays["test_images"], source.mean, source.std),
                  "test_labels": arrays["test_labels"]}
    imdb_run = loaded.train_imdb.model_copy(update={"model": "embedding_bag", "epochs": params.epochs})
    image_run = loaded.train_images.model_copy(update={"epochs": params.epochs})
    results = gpu_benchmark(bags, num_features, image_data, imdb_run, loaded.sweeps.base, image_run, device)
    if params.pipeline:
        overrides = {**local_sources(loaded.data), "benchmark_gpu.devices": []}
        results["pipeline_seconds"] = pipeline_seconds(Path.cwd(), overrides)
    with atomic_path(OUT, directory=True) as out:
        (out / "results.json").write_text(json_text(results, out / "results.json"))
        (out / "table.md").write_text(gpu_table(results))
    print(gpu_table(results))


if __name__ == "__main__":
    run_stage(main)
