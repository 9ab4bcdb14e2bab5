"""params.yaml, read and checked in full before a stage does any work."""

import difflib
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Callable, Collection
from typing import Any

import yaml

from reprolab.errors import UserError

PARAMS_FILE = "params.yaml"
TOKENIZERS = ("split", "normalized")
MODELS = ("embedding_bag", "dense", "embedding_mean")
HEADS = ("bce", "ce")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("auto", "eager", "graph")  # auto: graph on CUDA, eager elsewhere (engines.resolve_engine)
PRECISIONS = ("fp32", "bf16")
URL_SCHEMES = ("http://", "https://", "file://")
IMAGE_DATASETS = ("mnist", "fashion_mnist")
IMAGE_MODELS = ("cnn", "mlp")
STRATEGIES = ("none", "weighted_sampler", "class_weights", "undersample")
SECTIONS = ("data", "imdb", "encode_imdb", "train_imdb", "evaluate_imdb", "images", "imbalance", "train_images",
            "evaluate_images", "benchmark_loader", "benchmark_step", "benchmark_gpu", "sweeps")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NUM_IMAGE_CLASSES = 10


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
class TrainingRun:
    """Optimizer, schedule, seed and device: what both training sections share.

    section is the dotted params.yaml key these came from, for error messages.
    """

    section: str = field(kw_only=True, compare=False)
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int
    seed: int
    grad_clip: float
    device: str
    engine: str
    deterministic: bool
    precision: str


@dataclass(frozen=True)
class TrainParams(TrainingRun):
    model: str
    hidden: int
    head: str
    shuffle: bool


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


@dataclass(frozen=True)
class ImageSourceParams:
    source: str
    raw_md5: dict[str, str]
    mean: float
    std: float


@dataclass(frozen=True)
class ImbalanceParams:
    classes: tuple[int, ...]
    fraction: float
    seed: int


@dataclass(frozen=True)
class ImageTrainParams(TrainingRun):
    model: str
    hidden: int


@dataclass(frozen=True)
class ImageParams:
    datasets: tuple[str, ...]
    strategies: tuple[str, ...]
    sources: dict[str, ImageSourceParams]
    imbalance: ImbalanceParams
    train: ImageTrainParams
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
        self.read: set[str] = set()

    def done(self, *nested: str) -> None:
        """Reject keys that no getter read (typos), naming the closest known key."""
        reject_unknown(self.values, self.read | set(nested), self.name, self.source)

    def _fail(self, key: str, expected: str) -> UserError:
        got = self.values.get(key, "nothing")
        return UserError(f"{self.source}: {self.name}.{key} must be {expected}, got {got!r}")

    def _get(self, key: str, expected: str) -> Any:
        self.read.add(key)
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
        if not ok_type or not math.isfinite(value) or value < 0 or (positive and value == 0):
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

    def choices(self, key: str, choices: tuple[str, ...]) -> tuple[str, ...]:
        expected = "a non-empty list of distinct values from " + ", ".join(choices)
        value = self._get(key, expected)
        if not isinstance(value, list) or not value or len(set(map(repr, value))) != len(value) \
                or any(item not in choices for item in value):
            raise self._fail(key, expected)
        return tuple(value)

    def int_list(self, key: str, below: int) -> tuple[int, ...]:
        expected = f"a non-empty list of distinct class ids from 0 to {below - 1}"
        value = self._get(key, expected)
        ok = isinstance(value, list) and value and len(set(value)) == len(value)
        if not ok or any(isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < below for item in value):
            raise self._fail(key, expected)
        return tuple(value)

    def fraction(self, key: str) -> float:
        value = self.float(key)
        if value > 1:
            raise self._fail(key, "a number in (0, 1]")
        return value

    def str(self, key: str, pattern: str, expected: str) -> str:
        value = self._get(key, expected)
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML reads an unquoted run of digits (a checksum of 64 zeros, say) as a number
            raise self._fail(key, f"{expected} (quote it in params.yaml: YAML read a number)")
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise self._fail(key, expected)
        return value


def closest_key(key: str, known: set[str]) -> list[str]:
    """The known key a typo most likely meant: its initials (learning_rate -> lr) or the closest spelling."""
    initials = "".join(word[0] for word in re.split(r"[\W_]+", key) if word)
    if len(initials) > 1 and initials in known:
        return [initials]
    return difflib.get_close_matches(key, sorted(known), n=1)


def reject_unknown(values: dict, known: set[str], name: str, source: str) -> None:
    """A key of values that is not in known is a UserError naming it and the closest known key."""
    for key in values:
        if key not in known:
            where = f"{name}.{key}" if name else str(key)
            close = closest_key(str(key), known)
            hint = f"did you mean {f'{name}.{close[0]}' if name else close[0]}?" if close else \
                "known keys: " + ", ".join(sorted(known))
            raise UserError(f"{source}: unknown key {where} ({hint})")


def read_params(path: str | os.PathLike = PARAMS_FILE) -> dict:
    """Parse params.yaml into a dict, or fail with one line naming the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (run from the repository root)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{path}: not valid YAML{where} ({problem})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    reject_unknown(raw, set(SECTIONS), "", str(path))
    if isinstance(raw.get("data"), dict):
        reject_unknown(raw["data"], {"imdb", *IMAGE_DATASETS}, "data", str(path))
    return raw


def parse_fetch(section: _Section) -> FetchParams:
    """The download source: a URL (http, https, file) or a local path, and its sha256."""
    url = section.str("url", r"\S.*", "a URL (http://, https://, file://) or a local path")
    if "://" in url and not url.startswith(URL_SCHEMES):
        raise section._fail("url", "a URL (http://, https://, file://) or a local path")
    sha256 = section.str("sha256", r"[0-9a-fA-F]{64}", "a sha256 of 64 hex digits").lower()
    section.done()
    return FetchParams(url=url, sha256=sha256)


def _training_run(section: _Section) -> dict[str, Any]:
    """The optimizer, schedule, seed and device keys both training sections share."""
    return dict(
        section=section.name,
        optimizer=section.choice("optimizer", OPTIMIZERS),
        lr=section.float("lr"),
        momentum=section.float("momentum", positive=False),
        weight_decay=section.float("weight_decay", positive=False),
        batch_size=section.int("batch_size"),
        epochs=section.int("epochs"),
        seed=section.int("seed", minimum=0),
        grad_clip=section.float("grad_clip", positive=False),
        device=section.choice("device", DEVICES),
        engine=section.choice("engine", ENGINES),
        deterministic=section.bool("deterministic"),
        precision=section.choice("precision", PRECISIONS),
    )


def parse_train(section: _Section) -> TrainParams:
    """The train_imdb section (or a section of the same shape)."""
    params = TrainParams(model=section.choice("model", MODELS), hidden=section.int("hidden"),
                         head=section.choice("head", HEADS), shuffle=section.bool("shuffle"), **_training_run(section))
    section.done()
    return params


def load_imdb_params(path: str | os.PathLike = PARAMS_FILE) -> ImdbParams:
    """Every section the IMDB stages read, checked together so a typo fails the first stage."""
    raw, source = read_params(path), str(path)
    subset, vocab = _Section(raw, "encode_imdb", source), _Section(raw, "imdb", source)
    params = ImdbParams(
        fetch=parse_fetch(_Section(raw, "data.imdb", source)),
        vocab=VocabParams(tokenizer=vocab.choice("tokenizer", TOKENIZERS), vocab_size=vocab.int("vocab_size")),
        subset=SubsetParams(n=subset.int("n", minimum=0), balanced=subset.bool("balanced")),
        train=parse_train(_Section(raw, "train_imdb", source)),
        evaluate=parse_eval(_Section(raw, "evaluate_imdb", source)),
    )
    subset.done()
    vocab.done()
    if params.subset.balanced and params.subset.n % 2:
        raise UserError(f"{source}: encode_imdb.n must be even when balanced is true, got {params.subset.n}")
    return params


def parse_image_source(section: _Section) -> ImageSourceParams:
    """Where one image dataset comes from ("download" or a folder) and how to normalize it."""
    source = section.str("source", r"\S.*", "'download' or a folder holding the four IDX files")
    expected_md5 = "a mapping of IDX file names to md5 digests (32 hex digits) of their decompressed content"
    raw_md5 = section._get("raw_md5", expected_md5)
    if not isinstance(raw_md5, dict) or any(
            name not in IDX_FILES or not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", digest)
            for name, digest in raw_md5.items()):
        raise section._fail("raw_md5", expected_md5)
    params = ImageSourceParams(source=source, raw_md5={k: v.lower() for k, v in raw_md5.items()},
                               mean=section.float("mean", positive=False), std=section.float("std"))
    section.done()
    return params


def parse_image_train(section: _Section) -> ImageTrainParams:
    """The train_images section."""
    params = ImageTrainParams(model=section.choice("model", IMAGE_MODELS), hidden=section.int("hidden"),
                              **_training_run(section))
    section.done()
    return params


def parse_eval(section: _Section) -> EvalParams:
    """An evaluate_* section."""
    params = EvalParams(batch_size=section.int("batch_size"))
    section.done()
    return params


def load_image_params(path: str | os.PathLike = PARAMS_FILE) -> ImageParams:
    """Every section the image stages read, checked together."""
    raw, source = read_params(path), str(path)
    listing = _Section(raw, "images", source)
    imbalance = _Section(raw, "imbalance", source)
    datasets = listing.choices("datasets", IMAGE_DATASETS)
    params = ImageParams(
        datasets=datasets,
        strategies=listing.choices("strategies", STRATEGIES),
        sources={name: parse_image_source(_Section(raw, f"data.{name}", source)) for name in datasets},
        imbalance=ImbalanceParams(classes=imbalance.int_list("classes", NUM_IMAGE_CLASSES),
                                  fraction=imbalance.fraction("fraction"), seed=imbalance.int("seed", minimum=0)),
        train=parse_image_train(_Section(raw, "train_images", source)),
        evaluate=parse_eval(_Section(raw, "evaluate_images", source)),
    )
    listing.done()
    imbalance.done()
    return params


def stage_choice(value: str, choices: Collection[str], what: str) -> str:
    """A stage's command-line argument, checked against the values params.yaml allows."""
    if value not in choices:
        allowed = ", ".join(choices) if choices else "(params.yaml lists none)"
        raise UserError(f"{what} must be one of {allowed}, got {value!r}")
    return value


@dataclass(frozen=True)
class LoaderBenchmarkParams:
    dataset: str
    num_workers: tuple[int, ...]
    prefetch_factor: tuple[int, ...]
    batch_size: int
    batches: int
    epochs: int
    repeats: int
    io_delay_ms: float


@dataclass(frozen=True)
class StepBenchmarkParams:
    dataset: str
    batches: int
    device: str


def _positive_ints(section: _Section, key: str, minimum: int) -> tuple[int, ...]:
    expected = f"a non-empty list of distinct integers >= {minimum}"
    value = section._get(key, expected)
    if not isinstance(value, list) or not value or len(set(value)) != len(value) or any(
            isinstance(item, bool) or not isinstance(item, int) or item < minimum for item in value):
        raise section._fail(key, expected)
    return tuple(value)


def load_loader_benchmark_params(path: str | os.PathLike = PARAMS_FILE) -> LoaderBenchmarkParams:
    """The benchmark_loader section."""
    section = _Section(read_params(path), "benchmark_loader", str(path))
    params = LoaderBenchmarkParams(
        dataset=section.choice("dataset", IMAGE_DATASETS),
        num_workers=_positive_ints(section, "num_workers", 0),
        prefetch_factor=_positive_ints(section, "prefetch_factor", 1),
        batch_size=section.int("batch_size"),
        batches=section.int("batches"),
        epochs=section.int("epochs"),
        repeats=section.int("repeats"),
        io_delay_ms=section.float("io_delay_ms", positive=False),
    )
    section.done()
    return params


def load_step_benchmark_params(path: str | os.PathLike = PARAMS_FILE) -> StepBenchmarkParams:
    """The benchmark_step section."""
    section = _Section(read_params(path), "benchmark_step", str(path))
    params = StepBenchmarkParams(dataset=section.choice("dataset", IMAGE_DATASETS), batches=section.int("batches"),
                                 device=section.choice("device", DEVICES))
    section.done()
    return params


@dataclass(frozen=True)
class GpuBenchmarkParams:
    devices: tuple[str, ...]
    dataset: str
    epochs: int
    pipeline: bool


def load_gpu_benchmark_params(path: str | os.PathLike = PARAMS_FILE) -> GpuBenchmarkParams:
    """The benchmark_gpu section: which GPUs to measure (none: no stage), on what, and whether to time the pipeline."""
    section = _Section(read_params(path), "benchmark_gpu", str(path))
    devices = section._get("devices", "a list of CUDA devices (cuda, cuda:1, ...), empty for no GPU benchmark")
    if not isinstance(devices, list) or any(not isinstance(d, str) or not re.fullmatch(r"cuda(:\d+)?", d) for d in devices):
        raise section._fail("devices", "a list of CUDA devices (cuda, cuda:1, ...), empty for no GPU benchmark")
    params = GpuBenchmarkParams(devices=tuple(devices), dataset=section.choice("dataset", IMAGE_DATASETS),
                                epochs=section.int("epochs"), pipeline=section.bool("pipeline"))
    section.done()
    return params


SWEEPS = {"lr": "learning rate", "batch_size": "batch size", "shuffle": "shuffle", "head": "head",  # name: axis label
          "tokenizer": "tokenizer", "subset": "training / test subset"}


@dataclass(frozen=True)
class SweepParams:
    base: TrainParams
    values: dict[str, tuple]
    subset_size: int
    overfit: TrainParams
    overfit_reviews: int
    vocab_size: int
    eval_batch_size: int


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _value_list(section: _Section, key: str, valid: Callable[[Any], bool], expected: str) -> tuple:
    value = section._get(key, expected)
    if not isinstance(value, list) or not value or len(set(map(repr, value))) != len(value) or not all(map(valid, value)):
        raise section._fail(key, expected)
    return tuple(value)


def load_sweep_params(path: str | os.PathLike = PARAMS_FILE) -> SweepParams:
    """The sweeps section (its base is a full training section), plus what sweeps share with the main run."""
    raw, source = read_params(path), str(path)
    section = _Section(raw, "sweeps", source)
    values = {
        "lr": _value_list(section, "lr", _positive_number, "a non-empty list of distinct positive numbers"),
        "batch_size": _value_list(section, "batch_size", lambda v: _positive_number(v) and isinstance(v, int),
                                  "a non-empty list of distinct positive integers"),
        "shuffle": _value_list(section, "shuffle", lambda v: isinstance(v, bool), "a non-empty list of true/false"),
        "head": _value_list(section, "head", lambda v: v in HEADS, "a non-empty list from " + ", ".join(HEADS)),
        "tokenizer": _value_list(section, "tokenizer", lambda v: v in TOKENIZERS, "a non-empty list from " + ", ".join(TOKENIZERS)),
        "subset": _value_list(section, "subset", lambda v: v in ("first", "balanced"), "a non-empty list from first, balanced"),
    }
    subset_size = section.int("subset_size")
    if subset_size % 2:
        raise section._fail("subset_size", "an even positive integer (balanced takes half of each class)")
    base = parse_train(_Section(raw, "sweeps.base", source))
    overfit = _Section(raw, "sweeps.overfit", source)
    reviews = overfit.int("reviews")
    if reviews % 2:
        raise overfit._fail("reviews", "an even positive integer (half of each class)")
    params = SweepParams(
        base=base, values=values, subset_size=subset_size, overfit_reviews=reviews,
        overfit=replace(base, section=overfit.name, epochs=overfit.int("epochs"),
                        optimizer=overfit.choice("optimizer", OPTIMIZERS), lr=overfit.float("lr")),
        vocab_size=_Section(raw, "imdb", source).int("vocab_size"),
        eval_batch_size=_Section(raw, "evaluate_imdb", source).int("batch_size"),
    )
    section.done("base", "overfit")
    overfit.done()
    return params
