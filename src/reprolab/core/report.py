"""Figures (matplotlib, PNG) and markdown tables written by the stages."""

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from reprolab.core.atomic import atomic_path  # noqa: E402
from reprolab.core.clock import phase  # noqa: E402

PNG_METADATA = {"Software": None}  # no version string, so the bytes change only with the picture


@phase("write")
def save_figure(figure: plt.Figure, path: str | Path) -> None:
    """Write figure as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(figure)


@phase("write")
def confusion_figure(labels: Sequence[int], predictions: Sequence[int], class_names: list[str], title: str) -> plt.Figure:
    """Heat map of the confusion matrix, counts in the cells."""
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axes = plt.subplots(figsize=(9, 8))
    ConfusionMatrixDisplay.from_predictions(labels, predictions, labels=range(len(class_names)),
                                            display_labels=class_names, cmap="Blues", colorbar=False,
                                            xticks_rotation=45, ax=axes)
    axes.set_title(title)
    figure.tight_layout()
    return figure


@phase("write")
def roc_figure(labels: Sequence[int], scores: Sequence[float], title: str) -> plt.Figure:
    """The ROC curve of a binary classifier, its area in the legend."""
    from sklearn.metrics import RocCurveDisplay

    figure, axes = plt.subplots(figsize=(5.5, 5))
    RocCurveDisplay.from_predictions(labels, scores, ax=axes, name="test")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance (AUC = 0.5)")
    axes.legend(loc="lower right")
    axes.set_title(title)
    figure.tight_layout()
    return figure


@phase("write")
def curves_figure(curves: dict[str, dict[str, list[float]]], title: str) -> plt.Figure:
    """One panel per metric (loss, perplexity, accuracy), a train and a test line per epoch."""
    figure, axes_list = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.8), squeeze=False)
    for axes, (metric, splits) in zip(axes_list[0], curves.items(), strict=True):
        for split, values in splits.items():
            axes.plot(np.arange(1, len(values) + 1), values, "o-", label=split)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(metric)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


@phase("write")
def grouped_bars_figure(groups: list[str], series: dict[str, list[float]], ylabel: str, title: str) -> plt.Figure:
    """One bar per series within each group (e.g. recall per class, one bar per strategy)."""
    figure, axes = plt.subplots(figsize=(max(6, len(groups) * 1.2), 4.5))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        axes.bar(np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    axes.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(loc="upper left", bbox_to_anchor=(1, 1))
    figure.tight_layout()
    return figure


@phase("write")
def stacked_counts_figure(panels: dict[str, np.ndarray], class_names: list[str], title: str) -> plt.Figure:
    """One panel per sampler: stacked class counts in each batch (rows of the arrays)."""
    figure, axes_list = plt.subplots(len(panels), 1, figsize=(10, 3.2 * len(panels)), sharex=True, squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for axes, (name, counts) in zip(axes_list[:, 0], panels.items(), strict=True):
        bottom = np.zeros(len(counts))
        for cls, class_name in enumerate(class_names):
            axes.bar(np.arange(1, len(counts) + 1), counts[:, cls], bottom=bottom, color=colors[cls], label=class_name)
            bottom += counts[:, cls]
        axes.set_title(name)
        axes.set_ylabel("samples")
    axes_list[-1, 0].set_xlabel("batch")
    axes_list[0, 0].legend(ncol=5, fontsize="small", loc="lower left", bbox_to_anchor=(0, 1.15))
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def markdown_table(header: list[str], rows: list[list], digits: int | None = None) -> str:
    """A GitHub markdown table; floats with 4 decimals, or `digits` significant figures (measurements)."""
    def cell(value) -> str:
        if not isinstance(value, float):
            return str(value)
        return f"{value:.4f}" if digits is None else format(float(f"{value:.{digits}g}"), "g")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@phase("write")
def stacked_phases_figure(variants: dict[str, dict[str, float]], title: str) -> plt.Figure:
    """Horizontal stacked bars: one bar per variant, one segment per timed phase."""
    figure, axes = plt.subplots(figsize=(10, 0.6 * len(variants) + 1.5))
    names = list(variants)
    left = np.zeros(len(names))
    for part in next(iter(variants.values())):
        values = np.array([variants[name][part] for name in names])
        axes.barh(names, values, left=left, label=part)
        left += values
    axes.invert_yaxis()
    axes.set_xlabel("ms per batch")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    return figure


@phase("write")
def sweep_figure(sweep: str, values: list[str], accuracies: list[float], title: str) -> plt.Figure:
    """Test accuracy per sweep value: a line on a log axis for learning rate and batch size, labelled points otherwise."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    numeric = sweep in ("lr", "batch_size")
    x = [float(v) for v in values] if numeric else np.arange(len(values))
    axes.plot(x, accuracies, "o-" if numeric else "o", color="tab:blue", markersize=8)
    if numeric:
        axes.set_xscale("log", base=10 if sweep == "lr" else 2)
    else:  # a few categories: the axis spans the values, each point says its own
        axes.set_xticks(x, values)
        axes.set_xlim(-0.5, len(values) - 0.5)
        for position, accuracy in zip(x, accuracies):
            axes.annotate(f"{accuracy:.4f}", (position, accuracy), textcoords="offset points", xytext=(0, 8), ha="center")
        spread = max(accuracies) - min(accuracies)
        margin = max(spread, 0.01)
        axes.set_ylim(min(accuracies) - margin, max(accuracies) + margin)
    axes.set_xlabel(sweep)
    axes.set_ylabel("test accuracy")
    axes.grid(True, alpha=0.3)
    axes.set_title(title, fontsize="small")
    figure.tight_layout()
    return figure


@phase("write")
def overfit_figure(train: list[float], test: list[float], turn: int | None, title: str) -> plt.Figure:
    """Train and test perplexity per epoch, the epoch where test perplexity turns up marked."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    epochs = np.arange(1, len(train) + 1)
    axes.plot(epochs, train, "o-", label="train")
    axes.plot(epochs, test, "o-", label="test")
    if turn is not None:
        axes.axvline(turn, color="grey", linestyle="--", label=f"test perplexity turns up (epoch {turn})")
    axes.set_xlabel("epoch")
    axes.set_xticks(epochs)
    axes.set_ylabel("perplexity")
    axes.set_title(title, fontsize="small")
    axes.legend()
    figure.tight_layout()
    return figure
