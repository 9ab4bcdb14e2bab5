"""Evaluation checked by value: six hand-made predictions of three classes, every number worked out by hand."""

import json
import math

import pytest
import torch
from torch import nn

from reprolab.core.record import evaluate_and_record
from reprolab.core.train import evaluate, loss_function

LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
PREDICTED = [0, 1, 1, 1, 2, 0]  # right at rows 0, 2, 3, 4


class Table(nn.Module):
    """Logits looked up by row: 2.0 for the predicted class, 0 elsewhere; notes its mode at every forward."""

    def __init__(self):
        super().__init__()
        self.register_buffer("logits", torch.zeros(6, 3).index_put_((torch.arange(6), torch.tensor(PREDICTED)),
                                                                    torch.tensor(2.0)))
        self.modes = []

    def forward(self, rows):
        self.modes.append(self.training)
        return self.logits[rows]


def batches():
    return [(torch.tensor([0, 1, 2]), LABELS[:3]), (torch.tensor([3, 4, 5]), LABELS[3:])]


def test_metrics_equal_the_hand_worked_values(tmp_path):
    model = Table().train()
    result = evaluate_and_record(model, batches(), loss_function("ce"), ["a", "b", "c"], str(tmp_path / "eval"), "fp32",
                                 "hand")
    right, wrong = -math.log(math.exp(2) / (math.exp(2) + 2)), -math.log(1 / (math.exp(2) + 2))
    loss = (4 * right + 2 * wrong) / 6
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["loss"] == pytest.approx(loss) and metrics["perplexity"] == pytest.approx(math.exp(loss))
    per_class = json.loads((tmp_path / "eval/per_class.json").read_text())
    expected = {"a": (1 / 2, 1 / 2, 1 / 2), "b": (2 / 3, 1.0, 0.8), "c": (1.0, 1 / 2, 2 / 3)}
    for name, (precision, recall, f1) in expected.items():
        assert (per_class[name]["precision"], per_class[name]["recall"], per_class[name]["f1-score"]) == pytest.approx(
            (precision, recall, f1)), name
        assert per_class[name]["support"] == 2
    macro_f1 = (1 / 2 + 0.8 + 2 / 3) / 3
    assert metrics["macro_f1"] == pytest.approx(macro_f1) and per_class["macro avg"]["f1-score"] == pytest.approx(macro_f1)
    plotted = json.loads((tmp_path / "eval/plots/sklearn/confusion_matrix.json").read_text())
    pairs = sorted((row["actual"], row["predicted"]) for row in plotted)
    assert pairs == sorted(zip("aabbcc", [("a", "b", "c")[p] for p in PREDICTED]))
    assert result.predictions.tolist() == PREDICTED


def test_evaluation_runs_in_eval_mode_and_gives_the_mode_back():
    model = Table().train()
    evaluate(model, batches(), loss_function("ce"))
    assert model.modes == [False, False] and model.training
    model.eval()
    evaluate(model, batches(), loss_function("ce"))
    assert not model.training
