"""params.yaml: one pydantic model per section, in the YAML's shape, checked before a stage does any work. A failed
check is one line: the file, the dotted key, what it must be (its description) and what it is."""

import difflib
import os
import re
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, create_model,
                      model_validator)
from pydantic_core import PydanticCustomError

from reprolab.core.errors import UserError
from reprolab.core.registry import (ENGINES, IDX_FILES, IMAGE_DATASETS, IMAGE_MODELS, IMDB_MODELS, NUM_IMAGE_CLASSES,
                                    STRATEGIES, SWEEPS, TOKENIZERS)

PARAMS_FILE = "params.yaml"


def _expect(kind: Any, expected: str, *checks: Any) -> Any:
    """kind, with what a value must be (the messages say it) and pydantic's checks."""
    return Annotated[kind, Field(description=expected), *checks]


def _distinct(values: tuple) -> tuple:
    if len(set(map(repr, values))) != len(values):
        raise ValueError("repeated values")
    return values


def _list(item: Any, expected: str) -> Any:
    """A non-empty list of distinct items, kept as a tuple."""
    return _expect(tuple[item, ...], expected, Field(strict=False, min_length=1), AfterValidator(_distinct))


def _choice(choices: Any) -> Any:
    return _expect(Literal[tuple(choices)], "one of " + ", ".join(choices))


def _choices(choices: Any) -> Any:
    return _list(Literal[tuple(choices)], "a non-empty list of distinct values from " + ", ".join(choices))


def _location(at: str) -> str:
    if not at.strip() or "://" in at and not at.startswith(("http://", "https://", "file://")):
        raise ValueError("not a local path or a URL")
    return at


PositiveInt = _expect(int, "a positive integer", Field(ge=1))
NonNegativeInt = _expect(int, "an integer >= 0", Field(ge=0))
EvenPositive = _expect(int, "an even positive integer (half of each class)", Field(ge=1, multiple_of=2))
Positive = _expect(float, "a positive number", Field(gt=0, allow_inf_nan=False))
NonNegative = _expect(float, "a number >= 0", Field(ge=0, allow_inf_nan=False))
Fraction = _expect(float, "a number in (0, 1]", Field(gt=0, le=1))
Flag = _expect(bool, "true or false")
Device, Optimizer, Head = _choice(("auto", "cpu", "cuda")), _choice(("sgd", "adam")), _choice(("bce", "ce"))
Engine, Precision = _choice(("auto", *ENGINES)), _choice(("fp32", "bf16"))  # auto: graph on CUDA, eager elsewhere
Dataset = _choice(IMAGE_DATASETS)
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$"), AfterValidator(str.lower)]
Md5s = _expect(dict[Literal[IDX_FILES], Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")]],
               "a mapping of IDX file names to md5 digests (32 hex digits) of their decompressed content")
Folders = _list(Annotated[str, Field(min_length=1)], "a non-empty list of folders with the 4 IDX files, or 'download'")
ClassIds = _list(Annotated[int, Field(ge=0, lt=NUM_IMAGE_CLASSES)],
                 f"a non-empty list of distinct class ids from 0 to {NUM_IMAGE_CLASSES - 1}")
Workers = _list(Annotated[int, Field(ge=0)], "a non-empty list of distinct integers >= 0")
Prefetch = _list(Annotated[int, Field(ge=1)], "a non-empty list of distinct integers >= 1")
CudaDevices = _expect(tuple[Annotated[str, Field(pattern=r"^cuda(:\d+)?$")], ...],
                      "a list of CUDA devices (cuda, cuda:1, ...), empty for no GPU benchmark", Field(strict=False))


class Section(BaseModel):
    """A params.yaml mapping: every key known, every value checked, nothing changed after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    _section: str = PrivateAttr("params")
    _keys: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def section(self) -> str:
        """The dotted params.yaml key this section came from, for messages."""
        return self._section

    def key(self, name: str) -> str:
        """The dotted params.yaml key the value of name came from, for messages."""
        return self._keys.get(name, f"{self._section}.{name}")

    def named(self, section: str, **keys: str) -> Self:
        """This section, said in messages to come from section (and from keys, the names given)."""
        named = self.model_copy()
        named._section, named._keys = section, {**self._keys, **keys}
        return named


def section(name: str, *bases: type[BaseModel], **keys: Any) -> Any:
    """A section that is only its keys (and those of bases), declared as key=kind in the YAML's order."""
    return create_model(name, __base__=bases or Section, **keys)


def rule(key: str, expected: str) -> PydanticCustomError:
    """A check across a section's keys failed: key must be expected."""
    return PydanticCustomError("rule", "{key} must be {expected}", {"key": key, "expected": expected})


ArchiveSource = section("ArchiveSource", at=Annotated[str, AfterValidator(_location)], sha256=Sha256)
ImdbData = section("ImdbData", sources=_list(ArchiveSource, "a non-empty list of {at: a local path or a URL (http://, "
                                                            "https://, file://), sha256: 64 hex digits}"))
ImageData = section("ImageData", sources=Folders, raw_md5=Md5s, mean=NonNegative, std=Positive)
Data = section("Data", imdb=ImdbData, **{name: ImageData for name in IMAGE_DATASETS})
Imdb = section("Imdb", tokenizer=_choice(TOKENIZERS), vocab_size=PositiveInt)


class EncodeImdb(Section):
    n: NonNegativeInt
    balanced: Flag

    @model_validator(mode="after")
    def _even_when_balanced(self) -> Self:
        if self.balanced and self.n % 2:
            raise rule("n", "even when balanced is true")
        return self


# Optimizer, schedule, seed and device: what every training section shares.
TrainingRun = section("TrainingRun", optimizer=Optimizer, lr=Positive, momentum=NonNegative, weight_decay=NonNegative,
                      batch_size=PositiveInt, epochs=PositiveInt, seed=NonNegativeInt, grad_clip=NonNegative,
                      device=Device, engine=Engine, deterministic=Flag, precision=Precision)


class Processes(Section):
    """How many processes train a stage: above 1, torchrun runs it with DDP."""

    processes: PositiveInt

    @model_validator(mode="after")
    def _equal_shares(self) -> Self:
        if self.batch_size % self.processes:
            raise rule("batch_size", f"a multiple of processes ({self.processes}), so that every process takes an "
                                     "equal share of a batch")
        return self


ImdbRun = section("ImdbRun", TrainingRun, model=_choice(IMDB_MODELS), hidden=PositiveInt, head=Head, shuffle=Flag)
TrainImdb = section("TrainImdb", ImdbRun, Processes)
TrainImages = section("TrainImages", TrainingRun, Processes, model=_choice(IMAGE_MODELS), hidden=PositiveInt)
Evaluate = section("Evaluate", batch_size=PositiveInt)
Images = section("Images", datasets=_choices(IMAGE_DATASETS), strategies=_choices(STRATEGIES))
Imbalance = section("Imbalance", classes=ClassIds, fraction=Fraction, seed=NonNegativeInt)
BenchmarkLoader = section("BenchmarkLoader", dataset=Dataset, num_workers=Workers, prefetch_factor=Prefetch,
                          batch_size=PositiveInt, batches=PositiveInt, epochs=PositiveInt, repeats=PositiveInt,
                          io_delay_ms=NonNegative)
BenchmarkStep = section("BenchmarkStep", dataset=Dataset, batches=PositiveInt, device=Device)
BenchmarkGpu = section("BenchmarkGpu", devices=CudaDevices, dataset=Dataset, epochs=PositiveInt, pipeline=Flag)
Overfit = section("Overfit", reviews=EvenPositive, epochs=PositiveInt, optimizer=Optimizer, lr=Positive)


def _sweep_values(key: str | None, choices: tuple[str, ...]) -> tuple[Any, Any]:
    """A sweep's list, if listed: each value checked as the sweeps.base key it sets, or as one of its choices."""
    field = ImdbRun.model_fields[key] if key else None
    item = Annotated[(field.annotation, Field(), *field.metadata)] if field else Literal[choices]
    each = field.description if field else "one of " + ", ".join(choices)
    expected = f"a non-empty list of distinct values, each {each}"
    return _list(item, expected) | None, Field(None, description=expected)


Points = section("Points", **{name: _sweep_values(sweep.key, sweep.choices) for name, sweep in SWEEPS.items()})


class Sweeps(Section):
    base: ImdbRun
    points: Points
    subset_size: EvenPositive
    overfit: Overfit

    def listed(self) -> dict[str, tuple]:
        """The sweeps params.yaml lists, with their values."""
        return {name: values for name, values in self.points if values is not None}


# params.yaml, section by section; a stage loads the sections it reads.
Params = section("Params", **{name: (kind | None, None) for name, kind in dict(
    data=Data, imdb=Imdb, encode_imdb=EncodeImdb, train_imdb=TrainImdb, evaluate_imdb=Evaluate, images=Images,
    imbalance=Imbalance, train_images=TrainImages, evaluate_images=Evaluate, benchmark_loader=BenchmarkLoader,
    benchmark_step=BenchmarkStep, benchmark_gpu=BenchmarkGpu, sweeps=Sweeps).items()})


def load_params(*sections: str, path: str | os.PathLike = PARAMS_FILE) -> Params:
    """The named sections of params.yaml, checked (and the names of all of them)."""
    raw = read_params(path)
    for name in sections:
        if name not in raw:
            raise UserError(f"{path}: missing section '{name}'")
    try:
        params = Params.model_validate({key: value for key, value in raw.items()
                                        if key in sections or key not in Params.model_fields})
    except ValidationError as err:
        errors = sorted(err.errors(), key=lambda error: error["type"] != "extra_forbidden")
        raise UserError(f"{path}: {one_line(errors[0], raw)}") from None
    for name, section in [*params, ("sweeps.base", params.sweeps and params.sweeps.base)]:
        if section:
            section._section = name
    return params


def one_line(error: dict, raw: dict) -> str:
    """A pydantic error as the dotted key, what it must be and what it is."""
    model, field, keys, loc = Params, None, [], list(error["loc"])
    while loc and model and loc[0] in model.model_fields:
        field = model.model_fields[loc[0]]
        keys.append(loc.pop(0))
        model = next((kind for kind in (field.annotation, *getattr(field.annotation, "__args__", ()))
                      if isinstance(kind, type) and issubclass(kind, BaseModel)), None)
    if error["type"] == "extra_forbidden" and len(loc) == 1 and model:
        return unknown_key(".".join([*keys, str(loc[0])]), model.model_fields)
    expected = field.description or "a mapping"
    if error["type"] == "missing" and not loc:
        return f"missing {'.'.join(keys)} (expected {expected})"
    if error["type"] == "rule":
        keys, expected = [*keys, error["ctx"]["key"]], error["ctx"]["expected"]
    return f"{'.'.join(keys)} must be {expected}, got {reduce(lambda mapping, key: mapping[key], keys, raw)!r}"


def unknown_key(dotted: str, known: Any) -> str:
    """An unknown key, and the key a typo most likely meant: its initials (learning_rate -> lr), else the closest."""
    *section, key = dotted.split(".")
    initials = "".join(word[0] for word in re.split(r"[\W_]+", key) if word)
    close = [initials] if len(initials) > 1 and initials in known else \
        difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"did you mean {'.'.join([*section, close[0]])}?" if close else "known keys: " + ", ".join(sorted(known))
    return f"unknown key {dotted} ({hint})"


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
    return raw
