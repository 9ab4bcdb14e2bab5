"""params.yaml, read and checked in full before a stage does any work.

One dataclass per section, its fields in the YAML's names; each field's `Annotated` check says what
the value must be. One generic reader (`parse`) applies them, rejects unknown keys with the
closest known name, and turns a failed check into one line naming the dotted key.
"""

import difflib
import math
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import yaml

from reprolab.core.errors import UserError
from reprolab.core.registry import ENGINES, IMDB_MODELS, STRATEGIES, SWEEPS, TOKENIZERS

PARAMS_FILE = "params.yaml"
HEADS = ("bce", "ce")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
URL_SCHEMES = ("http://", "https://", "file://")
IMAGE_DATASETS = ("mnist", "fashion_mnist")
IMAGE_MODELS = ("cnn", "mlp")
SECTIONS = ("data", "imdb", "encode_imdb", "train_imdb", "evaluate_imdb", "images", "imbalance", "train_images",
            "evaluate_images", "benchmark_loader", "benchmark_step", "benchmark_gpu", "sweeps")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NUM_IMAGE_CLASSES = 10


@dataclass(frozen=True)
class Check:
    """What a value must be (said when it is missing too), the complaint about a bad one (None: fine), what is kept."""

    expected: str
    complaint: Callable[[Any], str | None]
    keep: Callable[[Any], Any] = lambda value: value


class Invalid(Exception):
    """A rule across fields failed in a section's __post_init__: key, what it must be, what it is."""

    def __init__(self, key: str, expected: str, value: Any):
        super().__init__(key, expected, value)
        self.key, self.expected, self.value = key, expected, value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is(expected: str, ok: Callable[[Any], bool], keep: Callable[[Any], Any] = lambda value: value) -> Check:
    return Check(expected, lambda value: None if ok(value) else expected, keep)


def _distinct_list(value: Any, ok: Callable[[Any], bool]) -> bool:
    return isinstance(value, list) and bool(value) and len(set(map(repr, value))) == len(value) and all(map(ok, value))


def one_of(choices: Collection[str]) -> Check:
    choices = tuple(choices)
    return _is("one of " + ", ".join(choices), lambda value: value in choices)


def list_of(choices: Collection[str], expected: str = "a non-empty list of distinct values from ") -> Check:
    choices = tuple(choices)
    return _is(expected + ", ".join(choices), lambda value: _distinct_list(value, lambda item: item in choices), tuple)


def at_least(minimum: int) -> Check:
    return _is(f"an integer >= {minimum}", lambda value: _integer(value) and value >= minimum)


def _imdb_model_complaint(value: Any) -> str | None:
    return None if isinstance(value, str) and value in IMDB_MODELS else "one of " + ", ".join(IMDB_MODELS)


ImdbModelName = Annotated[str, Check("the name of an IMDB model (registry.IMDB_MODELS)", _imdb_model_complaint)]
PositiveInt = Annotated[int, _is("a positive integer", lambda value: _integer(value) and value >= 1)]
Positive = Annotated[float, _is("a positive number", lambda value: _number(value) and value > 0, float)]
NonNegative = Annotated[float, _is("a number >= 0", lambda value: _number(value) and value >= 0, float)]
Flag = Annotated[bool, _is("true or false", lambda value: isinstance(value, bool))]
Seed = Annotated[int, at_least(0)]
Fraction = Annotated[float, Check("a positive number", lambda value: "a positive number" if not (_number(value) and value > 0)
                                  else "a number in (0, 1]" if value > 1 else None, float)]
NO_YAML = {"yaml": False}  # a field the reader fills in, not a key of the section


def _location(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and ("://" not in value or value.startswith(URL_SCHEMES))


def _archive_sources(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, dict) and set(item) == {"at", "sha256"} and _location(item["at"])
        and isinstance(item["sha256"], str) and re.fullmatch(r"[0-9a-fA-F]{64}", item["sha256"]) for item in value)


@dataclass(frozen=True)
class FetchParams:
    """data.imdb: where the archive may be had, tried in order, each with its sha256."""

    sources: Annotated[tuple[tuple[str, str], ...], _is(
        "a non-empty list of {at: a local path or a URL (http://, https://, file://), sha256: 64 hex digits}",
        _archive_sources, lambda value: tuple((item["at"], item["sha256"].lower()) for item in value))]


@dataclass(frozen=True)
class VocabParams:
    """imdb."""

    tokenizer: Annotated[str, one_of(TOKENIZERS)]
    vocab_size: PositiveInt


@dataclass(frozen=True)
class SubsetParams:
    """encode_imdb."""

    n: Annotated[int, at_least(0)]
    balanced: Flag

    def __post_init__(self):
        if self.balanced and self.n % 2:
            raise Invalid("n", "even when balanced is true", self.n)


@dataclass(frozen=True)
class TrainingRun:
    """Optimizer, schedule, seed and device: what every training section shares.

    section is the dotted params.yaml key these came from, for error messages.
    """

    section: str = field(kw_only=True, compare=False, metadata=NO_YAML)
    optimizer: Annotated[str, one_of(OPTIMIZERS)]
    lr: Positive
    momentum: NonNegative
    weight_decay: NonNegative
    batch_size: PositiveInt
    epochs: PositiveInt
    seed: Seed
    grad_clip: NonNegative
    device: Annotated[str, one_of(DEVICES)]
    engine: Annotated[str, one_of(("auto", *ENGINES))]  # auto: graph on CUDA, eager elsewhere
    deterministic: Flag
    precision: Annotated[str, one_of(PRECISIONS)]


@dataclass(frozen=True)
class StageRun(TrainingRun):
    """A training stage's section: how many processes train it too (above 1: under torchrun, with DDP)."""

    processes: PositiveInt

    def __post_init__(self):
        if self.batch_size % self.processes:
            raise Invalid("batch_size", f"a multiple of processes ({self.processes}), so that every process takes an "
                                        "equal share of a batch", self.batch_size)


@dataclass(frozen=True)
class TrainParams(TrainingRun):
    """sweeps.base, and (with processes) train_imdb."""

    model: ImdbModelName
    hidden: PositiveInt
    head: Annotated[str, one_of(HEADS)]
    shuffle: Flag


@dataclass(frozen=True)
class ImdbTrainParams(TrainParams, StageRun):
    """train_imdb."""


@dataclass(frozen=True)
class EvalParams:
    """evaluate_imdb, evaluate_images."""

    batch_size: PositiveInt


@dataclass(frozen=True)
class ImdbParams:
    """Every section the IMDB stages read."""

    fetch: FetchParams
    vocab: VocabParams
    subset: SubsetParams
    train: ImdbTrainParams
    evaluate: EvalParams


def _md5s(value: Any) -> bool:
    return isinstance(value, dict) and all(name in IDX_FILES and isinstance(digest, str)
                                           and re.fullmatch(r"[0-9a-fA-F]{32}", digest) for name, digest in value.items())


@dataclass(frozen=True)
class ImageSourceParams:
    """data.<dataset>: folders of the four IDX files or "download", tried in order; their decompressed md5s; Normalize's mean/std."""

    sources: Annotated[tuple[str, ...], _is("a non-empty list of folders holding the four IDX files, or 'download'",
                                            lambda value: isinstance(value, list) and bool(value) and all(
                                                isinstance(item, str) and item.strip() for item in value), tuple)]
    raw_md5: Annotated[dict, _is("a mapping of IDX file names to md5 digests (32 hex digits) of their decompressed "
                                 "content", _md5s, lambda value: {k: v.lower() for k, v in value.items()})]
    mean: NonNegative
    std: Positive


@dataclass(frozen=True)
class ImageLists:
    """images: the lists the image stages expand into."""

    datasets: Annotated[tuple[str, ...], list_of(IMAGE_DATASETS)]
    strategies: Annotated[tuple[str, ...], list_of(STRATEGIES)]


@dataclass(frozen=True)
class ImbalanceParams:
    """imbalance."""

    classes: Annotated[tuple[int, ...], _is(f"a non-empty list of distinct class ids from 0 to {NUM_IMAGE_CLASSES - 1}",
                                            lambda value: _distinct_list(value, lambda item: _integer(item) and
                                                                         0 <= item < NUM_IMAGE_CLASSES), tuple)]
    fraction: Fraction
    seed: Seed


@dataclass(frozen=True)
class ImageTrainParams(StageRun):
    """train_images."""

    model: Annotated[str, one_of(IMAGE_MODELS)]
    hidden: PositiveInt


@dataclass(frozen=True)
class ImageParams:
    """Every section the image stages read."""

    datasets: tuple[str, ...]
    strategies: tuple[str, ...]
    sources: dict[str, ImageSourceParams]
    imbalance: ImbalanceParams
    train: ImageTrainParams
    evaluate: EvalParams


def _ints_from(minimum: int) -> Check:
    return _is(f"a non-empty list of distinct integers >= {minimum}",
               lambda value: _distinct_list(value, lambda item: _integer(item) and item >= minimum), tuple)


@dataclass(frozen=True)
class LoaderBenchmarkParams:
    """benchmark_loader."""

    dataset: Annotated[str, one_of(IMAGE_DATASETS)]
    num_workers: Annotated[tuple[int, ...], _ints_from(0)]
    prefetch_factor: Annotated[tuple[int, ...], _ints_from(1)]
    batch_size: PositiveInt
    batches: PositiveInt
    epochs: PositiveInt
    repeats: PositiveInt
    io_delay_ms: NonNegative


@dataclass(frozen=True)
class StepBenchmarkParams:
    """benchmark_step."""

    dataset: Annotated[str, one_of(IMAGE_DATASETS)]
    batches: PositiveInt
    device: Annotated[str, one_of(DEVICES)]


@dataclass(frozen=True)
class GpuBenchmarkParams:
    """benchmark_gpu: which GPUs to measure (none: no stage), on what, and whether to time the pipeline."""

    devices: Annotated[tuple[str, ...], _is("a list of CUDA devices (cuda, cuda:1, ...), empty for no GPU benchmark",
                                            lambda value: isinstance(value, list) and all(
                                                isinstance(d, str) and re.fullmatch(r"cuda(:\d+)?", d) for d in value),
                                            tuple)]
    dataset: Annotated[str, one_of(IMAGE_DATASETS)]
    epochs: PositiveInt
    pipeline: Flag


def _even(expected: str) -> Check:
    return Check("a positive integer", lambda value: "a positive integer" if not (_integer(value) and value >= 1)
                 else expected if value % 2 else None)


@dataclass(frozen=True)
class OverfitParams:
    """sweeps.overfit: few training reviews (half of each class), many epochs."""

    reviews: Annotated[int, _even("an even positive integer (half of each class)")]
    epochs: PositiveInt
    optimizer: Annotated[str, one_of(OPTIMIZERS)]
    lr: Positive


@dataclass(frozen=True)
class SweepsSection:
    """sweeps: the base training section, the points of each sweep, the subset size and the overfitting run."""

    points: Annotated[dict, _is("a non-empty mapping of sweep names to lists of values",
                                lambda value: isinstance(value, dict) and bool(value))]
    subset_size: Annotated[int, _even("an even positive integer (balanced takes half of each class)")]
    base: TrainParams
    overfit: OverfitParams


def sweep_points(points: dict, source: str) -> dict[str, tuple]:
    """sweeps.points, each list checked item by item as the key it sets (sweeps.base's) or against its choices."""
    reject_unknown(points, SWEEPS, "sweeps.points", source)
    hints = get_type_hints(TrainParams, include_extras=True)
    checked = {}
    for sweep, values in points.items():
        spec = SWEEPS[sweep]
        item = get_args(hints[spec.key])[1] if spec.key else one_of(spec.choices)
        if not _distinct_list(values, lambda value: item.complaint(value) is None):
            raise UserError(f"{source}: sweeps.points.{sweep} must be a non-empty list of distinct values, each "
                            f"{item.expected}, got {values!r}")
        checked[sweep] = tuple(item.keep(value) for value in values)
    return checked


@dataclass(frozen=True)
class SweepParams:
    """What the sweep stages read: the sweeps section, plus what sweeps share with the main run."""

    base: TrainParams
    values: dict[str, tuple]
    subset_size: int
    overfit: TrainParams
    overfit_reviews: int
    vocab_size: int
    eval_batch_size: int


def closest_key(key: str, known: Collection[str]) -> list[str]:
    """The known key a typo most likely meant: its initials (learning_rate -> lr) or the closest spelling."""
    initials = "".join(word[0] for word in re.split(r"[\W_]+", key) if word)
    if len(initials) > 1 and initials in known:
        return [initials]
    return difflib.get_close_matches(key, sorted(known), n=1)


def reject_unknown(values: dict, known: Collection[str], name: str, source: str) -> None:
    """A key of values that is not in known is a UserError naming it and the closest known key."""
    for key in values:
        if key not in known:
            where = f"{name}.{key}" if name else str(key)
            close = closest_key(str(key), known)
            hint = f"did you mean {f'{name}.{close[0]}' if name else close[0]}?" if close else \
                "known keys: " + ", ".join(sorted(known))
            raise UserError(f"{source}: unknown key {where} ({hint})")


def read_params(path: str | os.PathLike = PARAMS_FILE) -> dict:
    """Parse params.yaml into a dict, or fail with one line naming the file (and the line, for bad YAML)."""
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
    reject_unknown(raw, SECTIONS, "", str(path))
    if isinstance(raw.get("data"), dict):
        reject_unknown(raw["data"], ("imdb", *IMAGE_DATASETS), "data", str(path))
    return raw


def section_values(raw: dict, name: str, source: str) -> dict:
    """The mapping at dotted name."""
    value = raw
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UserError(f"{source}: missing section '{name}'")
        value = value[part]
    if not isinstance(value, dict):
        raise UserError(f"{source}: '{name}' must be a mapping, got {value!r}")
    return value


def parse(cls: type, raw: dict, name: str, source: str):
    """The section at dotted `name` as a `cls`: every field checked, unknown keys rejected, cross-field rules run."""
    values = section_values(raw, name, source)
    hints = get_type_hints(cls, include_extras=True)
    keys = [f for f in fields(cls) if f.metadata.get("yaml", True)]
    kwargs: dict[str, Any] = {"section": name} if any(f.name == "section" for f in fields(cls)) else {}
    for f in keys:
        hint = hints[f.name]
        if is_dataclass(hint):
            kwargs[f.name] = parse(hint, raw, f"{name}.{f.name}", source)
            continue
        check = get_args(hint)[1] if get_origin(hint) is Annotated else None
        if f.name not in values:
            raise UserError(f"{source}: missing {name}.{f.name} (expected {check.expected})")
        complaint = check.complaint(values[f.name])
        if complaint:
            raise UserError(f"{source}: {name}.{f.name} must be {complaint}, got {values[f.name]!r}")
        kwargs[f.name] = check.keep(values[f.name])
    reject_unknown(values, [f.name for f in keys], name, source)
    try:
        return cls(**kwargs)
    except Invalid as err:
        raise UserError(f"{source}: {name}.{err.key} must be {err.expected}, got {err.value!r}") from None


def load_imdb_params(path: str | os.PathLike = PARAMS_FILE) -> ImdbParams:
    """Every section the IMDB stages read, checked together so a typo fails the first stage."""
    raw, source = read_params(path), str(path)
    return ImdbParams(fetch=parse(FetchParams, raw, "data.imdb", source), vocab=parse(VocabParams, raw, "imdb", source),
                      subset=parse(SubsetParams, raw, "encode_imdb", source),
                      train=parse(ImdbTrainParams, raw, "train_imdb", source),
                      evaluate=parse(EvalParams, raw, "evaluate_imdb", source))


def load_image_params(path: str | os.PathLike = PARAMS_FILE) -> ImageParams:
    """Every section the image stages read, checked together."""
    raw, source = read_params(path), str(path)
    lists = parse(ImageLists, raw, "images", source)
    return ImageParams(datasets=lists.datasets, strategies=lists.strategies,
                       sources={name: parse(ImageSourceParams, raw, f"data.{name}", source) for name in lists.datasets},
                       imbalance=parse(ImbalanceParams, raw, "imbalance", source),
                       train=parse(ImageTrainParams, raw, "train_images", source),
                       evaluate=parse(EvalParams, raw, "evaluate_images", source))


def load_loader_benchmark_params(path: str | os.PathLike = PARAMS_FILE) -> LoaderBenchmarkParams:
    """The benchmark_loader section."""
    return parse(LoaderBenchmarkParams, read_params(path), "benchmark_loader", str(path))


def load_step_benchmark_params(path: str | os.PathLike = PARAMS_FILE) -> StepBenchmarkParams:
    """The benchmark_step section."""
    return parse(StepBenchmarkParams, read_params(path), "benchmark_step", str(path))


def load_gpu_benchmark_params(path: str | os.PathLike = PARAMS_FILE) -> GpuBenchmarkParams:
    """The benchmark_gpu section."""
    return parse(GpuBenchmarkParams, read_params(path), "benchmark_gpu", str(path))


def load_sweep_params(path: str | os.PathLike = PARAMS_FILE) -> SweepParams:
    """The sweeps section (its base is a full training section), plus what sweeps share with the main run."""
    raw, source = read_params(path), str(path)
    sweeps = parse(SweepsSection, raw, "sweeps", source)
    overfit = sweeps.overfit
    return SweepParams(
        base=sweeps.base, values=sweep_points(sweeps.points, source), subset_size=sweeps.subset_size,
        overfit=replace(sweeps.base, section="sweeps.overfit", epochs=overfit.epochs, optimizer=overfit.optimizer,
                        lr=overfit.lr),
        overfit_reviews=overfit.reviews, vocab_size=parse(VocabParams, raw, "imdb", source).vocab_size,
        eval_batch_size=parse(EvalParams, raw, "evaluate_imdb", source).batch_size)


def stage_choice(value: str, choices: Collection[str], what: str) -> str:
    """A stage's command-line argument, checked against the values params.yaml allows."""
    if value not in choices:
        allowed = ", ".join(choices) if choices else "(params.yaml lists none)"
        raise UserError(f"{what} must be one of {allowed}, got {value!r}")
    return value
