"""Stage benchmark_loader: DataLoader flags measured on an I/O-bound dataset and on a cached one, beside TensorBatches."""

import warnings

import torch

from reprolab.core.atomic import atomic_path, csv_text, json_text
from reprolab.core.batches import TensorBatches
from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.device import device_info
from reprolab.core.params import load_params
from reprolab.core.paths import images_file, timings
from reprolab.core.report import grouped_bars_figure, markdown_table, save_figure
from reprolab.images.data import load_images, normalized
from reprolab.speed.measure import IOBoundDataset, InMemoryDataset, batches_per_second, loader_configs, summarize

OUT = timings("benchmark_loader")
# oversubscribing 2 cores and pinning without a GPU are what is being measured; results.json records both
warnings.filterwarnings("ignore", message="This DataLoader will create")
warnings.filterwarnings("ignore", message="'pin_memory' argument is set as true but no accelerator")


def main() -> None:
    parse_stage_args(__file__, __doc__)
    loaded = load_params("data", "images", "benchmark_loader")
    params = loaded.benchmark_loader
    source = getattr(loaded.data, stage_choice(params.dataset, loaded.images.datasets,
                                               "benchmark_loader.dataset (one of images.datasets)"))
    arrays = load_images(images_file(params.dataset))
    images, labels = normalized(arrays["train_images"], source.mean, source.std), arrays["train_labels"]
    datasets = {
        "synthetic_io": IOBoundDataset(params.batches * params.batch_size, 1000, params.io_delay_ms / 1000),
        params.dataset: InMemoryDataset(images, labels),
    }
    results = {name: {} for name in datasets}
    for name, dataset in datasets.items():
        for config in loader_configs(params.num_workers, params.prefetch_factor):
            loader = config.loader(dataset, params.batch_size, seed=0)
            samples = [batches_per_second(lambda: loader, params.batches, params.epochs) for _ in range(params.repeats)]
            results[name][f"DataLoader {config.name}"] = summarize(samples)
            print(f"{name:14s} DataLoader {config.name:48s} {results[name][f'DataLoader {config.name}']['median']:8.1f} batches/s")
    ours = TensorBatches(images, labels, params.batch_size, torch.device("cpu"), shuffle=True,
                         generator=torch.Generator().manual_seed(0))
    samples = [batches_per_second(lambda: ours, params.batches, params.epochs) for _ in range(params.repeats)]
    results[params.dataset]["reprolab TensorBatches"] = summarize(samples)
    print(f"{params.dataset:14s} reprolab TensorBatches {results[params.dataset]['reprolab TensorBatches']['median']:8.1f} batches/s")
    write_outputs(results, params)


def write_outputs(results: dict, params) -> None:
    """Per-dataset CSV (DVC plots), a markdown table, a PNG and the machine it ran on."""
    rows = [[name, config, s["median"], s["min"], s["max"]] for name, configs in results.items() for config, s in configs.items()]
    table = markdown_table(["dataset", "loader", "batches/s (median)", "min", "max"], rows, digits=3)
    configs = list(results[params.dataset])
    figure = grouped_bars_figure(configs, {name: [results[name].get(c, {"median": 0})["median"] for c in configs]
                                           for name in results}, "batches per second (median)",
                                 f"DataLoader settings, batch {params.batch_size}")
    figure.axes[0].set_yscale("log")
    with atomic_path(OUT, directory=True) as out:
        for name, configs_of in results.items():
            (out / f"{name}.csv").write_text(csv_text(["loader", "batches_per_s"], (
                (config, f"{s['median']:.2f}") for config, s in configs_of.items())))
        (out / "table.md").write_text(table)
        (out / "results.json").write_text(json_text({**device_info(torch.device("cpu")),
                                                     "pin_memory_effective": torch.cuda.is_available(),
                                                     "results": results}, out / "results.json"))
        save_figure(figure, out / "loader.png")


if __name__ == "__main__":
    run_stage(main)
