"""Stage compare_images@<dataset>: the strategies side by side, minority classes' recall first."""

import json
from pathlib import Path

from reprolab.core.atomic import atomic_path, csv_text, json_text
from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.errors import UserError
from reprolab.core.params import load_params
from reprolab.core.paths import evaluation_reports, stage_metrics
from reprolab.core.report import grouped_bars_figure, markdown_table, save_figure


def read_metrics(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: unreadable evaluation metrics ({err}); rerun evaluate_images") from None


def main() -> None:
    args = parse_stage_args(__file__, __doc__, (("dataset", "one of images.datasets"),))
    params = load_params("images", "imbalance")
    name = stage_choice(args.dataset, params.images.datasets, "compare_images: dataset (images.datasets)")
    metrics, reports = stage_metrics("evaluate_images", name), evaluation_reports(name)
    results = {s: (read_metrics(metrics / s / "metrics.json"), read_metrics(reports / s / "per_class.json"))
               for s in params.images.strategies}
    names = [key for key in next(iter(results.values()))[1] if key != "macro avg"]  # the classes, in label order
    minority = [names[cls] for cls in params.imbalance.classes]
    summary = {s: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                   "minority_recall": {c: per_class[c]["recall"] for c in minority}}
               for s, (m, per_class) in results.items()}
    header = ["strategy", "accuracy", "macro F1", *(f"recall {c}" for c in minority), *(f"precision {c}" for c in minority)]
    rows = [[s, m["accuracy"], m["macro_f1"], *(per_class[c]["recall"] for c in minority),
             *(per_class[c]["precision"] for c in minority)] for s, (m, per_class) in results.items()]
    recall = {s: [per_class[c]["recall"] for c in names] for s, (_, per_class) in results.items()}
    figure = grouped_bars_figure(names, recall, "test recall", f"{name}: recall per class by rebalancing strategy")
    with atomic_path(stage_metrics("compare_images", name), directory=True) as out:
        (out / "metrics.json").write_text(json_text(summary, out / "metrics.json"))
        (out / "table.md").write_text(f"### {name}: rebalancing strategies (minority classes {', '.join(minority)})\n\n"
                                      + markdown_table(header, rows))
        (out / "minority_recall.csv").write_text(csv_text(["run", "recall"], (
            (f"{s}: {c}", r) for s, m in summary.items() for c, r in m["minority_recall"].items())))
        save_figure(figure, out / "recall.png")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    run_stage(main)
