"""Train every rebalancing strategy of one image dataset: side by side on CPU, one after another on a GPU or under torchrun.

The stage's outputs are folders per dataset, staged together: they all appear when every strategy has
trained, and a failed strategy leaves the previous outputs as they were.
"""

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from reprolab.core.atomic import atomic_folders
from reprolab.core.batches import TensorBatches
from reprolab.core.clock import phase
from reprolab.core.device import seed_everything
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.parallel import cpu_workers, side_by_side
from reprolab.core.params import Params
from reprolab.core.paths import image_models, images_file, kept_file, stage_metrics, timings
from reprolab.core.record import RunFiles, train_and_record
from reprolab.core.train import Run, build_model, loss_function, require_batch_fits, require_device_memory
from reprolab.images.data import load_images, load_kept, normalized, strategy_batches, strategy_rows
from reprolab.images.models import data_shape, image_model

# torch threads per strategy on CPU: a second thread barely speeds the CNN's step, while one-thread strategies side by
# side keep every core busy (benchmarks/README.md); one thread also makes the bits the same on any core count
THREADS = 1


@dataclass(frozen=True)
class Outputs:
    """The folders one dataset's training writes: a checkpoint, metrics, curves and timings per strategy."""

    models: Path
    metrics: Path
    curves: Path
    timings: Path


def outputs(name: str) -> Outputs:
    """Where dvc.yaml's train_images@<name> keeps its outputs."""
    return Outputs(image_models(name), stage_metrics("train_images", name), stage_metrics("train_images_curves", name),
                   timings("train_images", name))


def _data(name: str) -> tuple[dict, torch.Tensor]:
    return load_images(images_file(name)), load_kept(kept_file(name))


def check_strategies(name: str, params: Params, device: torch.device) -> None:
    """Before any training: the data are readable, fit the device, and every strategy keeps at least a batch."""
    arrays, kept = _data(name)
    pixels = arrays["test_images"][0].numel()
    require_device_memory(4 * (len(kept) + len(arrays["test_labels"])) * pixels, device, "the normalised images",
                          "train_images.device")
    labels = arrays["train_labels"][kept]
    for strategy in params.images.strategies:
        rows = len(labels[strategy_rows(strategy, labels, params.train_images.seed)])
        require_batch_fits(params.train_images, rows, f"{name} training images that {strategy} keeps")


def image_run(name: str, strategy: str, params: Params, device: torch.device, engine: str,
              shard: Shard = SINGLE) -> Run:
    """Seed, then build one strategy's run on dataset name: its batches (and class weights), the model
    train_images.model names for the data's image shape, and its losses."""
    train, source = params.train_images, getattr(params.data, name)
    generator = seed_everything(train.seed, train.deterministic)
    arrays, kept = _data(name)
    images = normalized(arrays["train_images"][kept], source.mean, source.std)
    train_batches, class_weights = strategy_batches(strategy, images, arrays["train_labels"][kept],
                                                    train.batch_size, device, generator, train.seed, shard)
    eval_batch_size = params.evaluate_images.batch_size
    train_in_order = train_batches.in_order(eval_batch_size)
    test_batches = TensorBatches(normalized(arrays["test_images"], source.mean, source.std), arrays["test_labels"],
                                 eval_batch_size, device)
    config = {"name": train.model, "hidden": train.hidden}
    shape = data_shape(images, arrays["classes"])
    model = build_model(lambda: image_model(**config, **shape), train, device, train.key("hidden"))
    return Run(model, config, train_batches, train_in_order, test_batches, loss_function("ce"), engine,
               shape["num_classes"], train_criterion=loss_function("ce", class_weights))


def train_strategy(name: str, strategy: str, params: Params, device: torch.device, engine: str, out: Outputs,
                   shard: Shard = SINGLE) -> None:
    """Train one strategy and write its checkpoint, metrics, curves and timings into out's folders."""
    run = image_run(name, strategy, params, device, engine, shard)
    files = RunFiles(out.metrics / strategy, out.models / f"{strategy}.pt", out.timings / f"{strategy}.json")
    train_and_record(run, params.train_images, files, device, shard, label=f"{name} / {strategy}: ")
    if shard.main:  # DVCLive writes its curves beside metrics.json; dvc.yaml declares them as plots on their own
        (out.metrics / strategy / "plots").rename(out.curves / strategy)


def strategy_workers(device: torch.device, shard: Shard, strategies: int) -> int:
    """How many strategies train at once: on CPU in one process, one per core; on a GPU or under torchrun one."""
    if device.type == "cuda" or shard.world > 1:
        return 1
    return cpu_workers(strategies)


def train_strategies(name: str, params: Params, device: torch.device, engine: str, shard: Shard = SINGLE) -> None:
    """Check, then train each of images.strategies on dataset name; only the main process of a job writes."""
    check_strategies(name, params, device)
    workers = strategy_workers(device, shard, len(params.images.strategies))
    threads = THREADS if device.type == "cpu" and shard.world == 1 else None
    if shard.main:
        print(f"training {name} on {device} with the {engine} engine in {shard.world} process(es), "
              f"{workers} strateg{'y' if workers == 1 else 'ies'} at a time: {params.train_images.model_dump()}", flush=True)
    with atomic_folders(outputs(name)) if shard.main else nullcontext(outputs(name)) as out:
        runs = [(name, strategy, params, device, engine, out, shard) for strategy in params.images.strategies]
        with phase("train"):
            for _ in side_by_side(train_strategy, runs, workers, threads):
                pass
