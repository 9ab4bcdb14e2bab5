"""Evaluate every rebalancing strategy of one image dataset in one process: a start costs more than an evaluation.

DVC reads every file of a metrics folder as metrics, and draws every file of a plots folder with one
template, so each kind of output has its own folder per dataset. They are staged together: they all
appear once every strategy is evaluated.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from reprolab.core.atomic import atomic_folders
from reprolab.core.batches import TensorBatches
from reprolab.core.params import Params
from reprolab.core.paths import evaluation_reports, images_file, stage_metrics
from reprolab.core.record import evaluate_and_record, load_model
from reprolab.core.train import Evaluation, loss_function
from reprolab.images.data import load_images, normalized
from reprolab.images.models import data_shape, image_model
from reprolab.images.training import outputs as training_outputs


@dataclass(frozen=True)
class Outputs:
    """The folders one dataset's evaluation writes, a file or folder per strategy in each."""

    metrics: Path  # <strategy>/metrics.json: accuracy, loss, perplexity, macro F1
    reports: Path  # <strategy>/per_class.json and confusion_matrix.png
    confusion: Path  # <strategy>.json: one row per test image, for DVC's confusion template


def outputs(name: str) -> Outputs:
    """Where dvc.yaml's evaluate_images@<name> keeps its outputs."""
    return Outputs(stage_metrics("evaluate_images", name), evaluation_reports(name),
                   stage_metrics("evaluate_images_confusion", name))


def evaluate_strategies(name: str, params: Params, device: torch.device) -> dict[str, Evaluation]:
    """Read every strategy's checkpoint, then evaluate each on the whole test split and write the outputs."""
    arrays, source = load_images(images_file(name)), getattr(params.data, name)
    test_images = normalized(arrays["test_images"], source.mean, source.std)
    shape, folder = data_shape(test_images, arrays["classes"]), training_outputs(name).models
    models = {strategy: load_model(folder / f"{strategy}.pt", lambda config: image_model(**config, **shape), device,
                                   f"train_images@{name}")[0] for strategy in params.images.strategies}
    test_batches = TensorBatches(test_images, arrays["test_labels"], params.evaluate_images.batch_size, device)
    results = {}
    with atomic_folders(outputs(name)) as out:
        for strategy, model in models.items():
            recorded = out.metrics / strategy
            results[strategy] = evaluate_and_record(model, test_batches, loss_function("ce"), arrays["classes"],
                                                    str(recorded), params.train_images.precision, f"{name}, {strategy}")
            (out.reports / strategy).mkdir()
            for report in ("per_class.json", "confusion_matrix.png"):
                (recorded / report).rename(out.reports / strategy / report)
            (recorded / "plots/sklearn/confusion_matrix.json").rename(out.confusion / f"{strategy}.json")
            shutil.rmtree(recorded / "plots")
    return results
