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
from reprolab.core.params import ImageParams
from reprolab.core.paths import evaluation_reports, images_file, stage_metrics
from reprolab.core.record import evaluate_and_record, load_checkpoint
from reprolab.core.train import Evaluation, loss_function
from reprolab.images.data import load_images, normalized
from reprolab.images.models import image_model
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


def evaluate_strategies(name: str, params: ImageParams, device: torch.device) -> dict[str, Evaluation]:
    """Read every strategy's checkpoint, then evaluate each on the whole test split and write the outputs."""
    models = training_outputs(name).models
    checkpoints = {strategy: load_checkpoint(str(models / f"{strategy}.pt"), device) for strategy in params.strategies}
    arrays, source = load_images(images_file(name)), params.sources[name]
    test_batches = TensorBatches(normalized(arrays["test_images"], source.mean, source.std), arrays["test_labels"],
                                 params.evaluate.batch_size, device)
    results = {}
    with atomic_folders(outputs(name)) as out:
        for strategy, (config, state) in checkpoints.items():
            model = image_model(**config).to(device)
            model.load_state_dict(state)
            recorded = out.metrics / strategy
            results[strategy] = evaluate_and_record(model, test_batches, loss_function("ce"), arrays["classes"],
                                                    str(recorded), params.train.precision, f"{name}, {strategy}")
            (out.reports / strategy).mkdir()
            for report in ("per_class.json", "confusion_matrix.png"):
                (recorded / report).rename(out.reports / strategy / report)
            (recorded / "plots/sklearn/confusion_matrix.json").rename(out.confusion / f"{strategy}.json")
            shutil.rmtree(recorded / "plots")
    return results
