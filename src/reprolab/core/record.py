"""Run training/evaluation and record results in DVC's formats, apart from timings."""

import math
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from reprolab.core.atomic import atomic_path, ensure_writable, json_text, save_torch, write_json
from reprolab.core.clock import phase
from reprolab.core.device import device_info
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.engines import fit
from reprolab.core.errors import UserError
from reprolab.core.parallel import one_at_a_time
from reprolab.core.params import TrainingRun
from reprolab.core.train import (Batch, Criterion, Evaluation, Run, evaluate, expected_initial_loss, initial_loss,
                                 perplexity)


@contextmanager
def _live(directory: Path) -> Iterator:
    """A DVCLive logger that only writes files: dvc.yaml declares them, DVC does the rest."""
    with phase("imports"):
        from dvclive import Live  # imported here: only the stages that log need it

    live = Live(dir=str(directory), save_dvc_exp=False, dvcyaml=None, report=None)
    try:
        yield live
    finally:
        # end() checks for, then removes, a signal file in .dvc/tmp that every run in the repository shares
        # (for VS Code): two side-by-side runs ending at once both see it and the second remove fails
        with one_at_a_time():
            live.end()


def _log_split(live, split: str, loss: float, accuracy: float) -> None:
    live.log_metric(f"{split}/loss", loss)
    live.log_metric(f"{split}/perplexity", perplexity(loss))
    live.log_metric(f"{split}/accuracy", accuracy)


@dataclass(frozen=True)
class RunFiles:
    """Where a training run's records go: its metrics folder (DVCLive's), its checkpoint and its timings."""

    metrics: str | Path
    model: str | Path
    timings: str | Path


def train_and_record(run: Run, params: TrainingRun, files: RunFiles, device: torch.device, shard: Shard = SINGLE,
                     label: str = "") -> None:
    """Fit run's model, logging per-epoch metrics and plots, then save the checkpoint and the timings.

    In a data-parallel job every process trains and only the main one writes. label starts each printed line.
    """
    if shard.main:
        ensure_writable(files.metrics, files.model, files.timings)
    start = time.perf_counter()
    num_classes, expected = run.num_classes, expected_initial_loss(run.num_classes)
    first_loss = initial_loss(run.model, run.train_in_order, run.criterion, shard)
    epochs = fit(run.model, run.train_batches, run.test_batches, params, run.train_criterion or run.criterion,
                 run.criterion, run.engine, shard, run.resident)
    if not shard.main:
        for _ in epochs:
            pass
        return
    print(f"{label}initial loss {first_loss:.4f} (ln {num_classes} = {expected:.4f} for an untrained {num_classes}-class model)")
    epoch_seconds, setup_seconds = [], 0.0
    with atomic_path(files.metrics, directory=True) as tmp_dir:
        with _live(tmp_dir) as live:
            live.summary["initial_loss"] = first_loss
            live.summary["expected_initial_loss"] = expected
            live.summary["device"] = device.type  # CUDA and CPU kernels differ in the last bits
            live.summary["engine"] = run.engine
            live.summary["processes"] = shard.world  # each draws its own weighted samples
            for result in epochs:
                _log_split(live, "train", result.train_loss, result.train_accuracy)
                _log_split(live, "test", result.test.loss, result.test.accuracy)
                live.next_step()
                epoch_seconds.append(result.seconds)
                setup_seconds = result.setup_seconds
                print(f"{label}epoch {result.epoch}/{params.epochs}: train loss {result.train_loss:.4f}, "
                      f"test loss {result.test.loss:.4f} (ppl {result.test.perplexity:.3f}), "
                      f"test accuracy {result.test.accuracy:.4f}, {result.seconds:.2f}s", flush=True)
        save_checkpoint(run.model, run.config, files.model)
    write_json(files.timings, {
        **device_info(device),
        "processes": shard.world,
        "engine_setup_seconds": round(setup_seconds, 4),
        "epoch_seconds": [round(seconds, 4) for seconds in epoch_seconds],
        "mean_epoch_seconds": round(sum(epoch_seconds) / len(epoch_seconds), 4),
        "total_seconds": round(time.perf_counter() - start, 4),
    })


def save_checkpoint(model: nn.Module, config: dict, path: str | Path) -> None:
    """State dict plus the constructor arguments that rebuild the model."""
    save_torch(path, {"config": config, "state_dict": model.state_dict()})


@phase("load")
def load_model(path: str | Path, build: Callable[[dict], nn.Module], device: torch.device,
               stage: str) -> tuple[nn.Module, dict]:
    """The model a checkpoint from save_checkpoint holds, build(its config) with its weights loaded on device, and
    the config.

    Whatever is wrong with the file is one line that names it and the stage that writes it. A file that safe
    loading refuses is never opened another way.
    """
    rerun = f"rerun 'dvc repro -f {stage}'"
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; {rerun}") from None
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        checkpoint = None
    if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("config"), dict)
            and isinstance(checkpoint.get("state_dict"), dict)):
        raise UserError(f"{path}: not a reprolab checkpoint (or from an untrusted source); {rerun}")
    try:
        model = build(checkpoint["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: its config {checkpoint['config']} builds no model ({type(err).__name__}: "
                        f"{str(err).splitlines()[0]}); {rerun}") from None
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()] or [str(err)]
        raise UserError(f"{path}: its weights do not fit the model its config and the data make ({lines[0]}); "
                        f"{rerun}") from None
    return model.to(device), checkpoint["config"]


def evaluate_and_record(model: nn.Module, batches: Iterable[Batch], criterion: Criterion, class_names: list[str],
                        metrics_dir: str, precision: str, title: str) -> Evaluation:
    """Headline metrics (metrics.json: accuracy, loss, perplexity, macro F1), per-class precision/recall/F1
    (per_class.json), the confusion matrix as a DVC plot and a PNG, and for two classes the ROC as both.
    """
    with phase("imports"):
        from sklearn.metrics import classification_report

        from reprolab.core.report import confusion_figure, roc_figure, save_figure

    result = evaluate(model, batches, criterion, precision)
    if not math.isfinite(result.perplexity):
        raise UserError(f"evaluation loss is {result.loss:.4g}: the model's weights are broken; retrain it")
    report = classification_report(result.labels, result.predictions, labels=range(len(class_names)),
                                   target_names=class_names, output_dict=True, zero_division=0)
    with atomic_path(metrics_dir, directory=True) as tmp_dir:
        with _live(tmp_dir) as live:
            live.summary.update({"accuracy": result.accuracy, "loss": result.loss, "perplexity": result.perplexity,
                                 "macro_f1": report["macro avg"]["f1-score"]})
            actual = [class_names[i] for i in result.labels.tolist()]
            predicted = [class_names[i] for i in result.predictions.tolist()]
            live.log_sklearn_plot("confusion_matrix", actual, predicted, name="confusion_matrix")
            if len(class_names) == 2:
                live.log_sklearn_plot("roc", result.labels.numpy(), result.probabilities[:, 1].numpy(), name="roc")
        per_class = {name: dict(report[name]) for name in [*class_names, "macro avg"]}
        (tmp_dir / "per_class.json").write_text(json_text(per_class, tmp_dir / "per_class.json"))
        save_figure(confusion_figure(result.labels, result.predictions, class_names, f"{title}: test confusion matrix"),
                    tmp_dir / "confusion_matrix.png")
        if len(class_names) == 2:
            save_figure(roc_figure(result.labels, result.probabilities[:, 1], f"{title}: test ROC"), tmp_dir / "roc.png")
    return result
