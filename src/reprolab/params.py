"""params.yaml, read and checked in full before a stage does any work."""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reprolab.errors import UserError

PARAMS_FILE = "params.yaml"
TOKENIZERS = ("split", "normalized")
MODELS = ("embedding_bag", "dense")
HEADS = ("bce", "ce")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class FetchParams:
    url: str
    sha256: str


@dataclass(frozen=True)
class VocabParams:
    tokenizer: str
    vocab_size: int


@dataclass(frozen=True)
class SubsetParams:
    n: int
    balanced: bool


@dataclass(frozen=True)
class TrainParams:
    model: str
    hidden: int
    head: str
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int
    shuffle: bool
    seed: int
    grad_clip: float
    device: str
    deterministic: bool


@dataclass(frozen=True)
class EvalParams:
    batch_size: int


@dataclass(frozen=True)
class ImdbParams:
    fetch: FetchParams
    vocab: VocabParams
    subset: SubsetParams
    train: TrainParams
    evaluate: EvalParams


class _Section:
    """One mapping of params.yaml, whose getters name the dotted key in every error."""

    def __init__(self, raw: dict, name: str, source: str):
        self.name, self.source = name, source
        value = raw
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                raise UserError(f"{source}: missing section '{name}'")
            value = value[part]
        if not isinstance(value, dict):
            raise UserError(f"{source}: '{name}' must be a mapping, got {value!r}")
        self.values = value

    def _fail(self, key: str, expected: str) -> UserError:
        got = self.values.get(key, "nothing")
        return UserError(f"{self.source}: {self.name}.{key} must be {expected}, got {got!r}")

    def _get(self, key: str, expected: str) -> Any:
        if key not in self.values:
            raise UserError(f"{self.source}: missing {self.name}.{key} (expected {expected})")
        return self.values[key]

    def int(self, key: str, minimum: int = 1) -> int:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        value = self._get(key, expected)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self._fail(key, expected)
        return value

    def float(self, key: str, positive: bool = True) -> float:
        expected = "a positive number" if positive else "a number >= 0"
        value = self._get(key, expected)
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok_type or value != value or value < 0 or (positive and value == 0):
            raise self._fail(key, expected)
        return float(value)

    def bool(self, key: str) -> bool:
        value = self._get(key, "true or false")
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        expected = "one of " + ", ".join(choices)
        value = self._get(key, expected)
        if value not in choices:
            raise self._fail(key, expected)
        return value

    def str(self, key: str, pattern: str, expected: str) -> str:
        value = self._get(key, expected)
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise self._fail(key, expected)
        return value


def read_params(path: str | os.PathLike = PARAMS_FILE) -> dict:
    """Parse params.yaml into a dict, or fail with one line naming the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (run from the repository root)") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def parse_fetch(section: _Section) -> FetchParams:
    """The download source: a URL (http, https, file) or a local path, and its sha256."""
    url = section.str("url", r"\S.*", "a URL (http://, https://, file://) or a local path")
    if "://" in url and not url.startswith(URL_SCHEMES):
        raise section._fail("url", "a URL (http://, https://, file://) or a local path")
    sha256 = section.str("sha256", r"[0-9a-fA-F]{64}", "a sha256 of 64 hex digits").lower()
    return FetchParams(url=url, sha256=sha256)


def parse_train(section: _Section) -> TrainParams:
    """The train_imdb section."""
    return TrainParams(
        model=section.choice("model", MODELS),
        hidden=section.int("hidden"),
        head=section.choice("head", HEADS),
        optimizer=section.choice("optimizer", OPTIMIZERS),
        lr=section.float("lr"),
        momentum=section.float("momentum", positive=False),
        weight_decay=section.float("weight_decay", positive=False),
        batch_size=section.int("batch_size"),
        epochs=section.int("epochs"),
        shuffle=section.bool("shuffle"),
        seed=section.int("seed", minimum=0),
        grad_clip=section.float("grad_clip", positive=False),
        device=section.choice("device", DEVICES),
        deterministic=section.bool("deterministic"),
    )


def load_imdb_params(path: str | os.PathLike = PARAMS_FILE) -> ImdbParams:
    """Every section the IMDB stages read, checked together so a typo fails the first stage."""
    raw, source = read_params(path), str(path)
    subset = _Section(raw, "encode_imdb", source)
    params = ImdbParams(
        fetch=parse_fetch(_Section(raw, "data.imdb", source)),
        vocab=VocabParams(
            tokenizer=_Section(raw, "imdb", source).choice("tokenizer", TOKENIZERS),
            vocab_size=_Section(raw, "imdb", source).int("vocab_size"),
        ),
        subset=SubsetParams(n=subset.int("n", minimum=0), balanced=subset.bool("balanced")),
        train=parse_train(_Section(raw, "train_imdb", source)),
        evaluate=EvalParams(batch_size=_Section(raw, "evaluate_imdb", source).int("batch_size")),
    )
    if params.subset.balanced and params.subset.n % 2:
        raise UserError(f"{source}: encode_imdb.n must be even when balanced is true, got {params.subset.n}")
    return params
