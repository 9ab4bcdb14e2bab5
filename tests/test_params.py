import copy
import re

import pytest
import yaml

from project import REPO
from reprolab.core.errors import UserError
from reprolab.core.params import load_params

IMDB = ("data", "imdb", "encode_imdb", "train_imdb", "evaluate_imdb")
IMAGES = ("data", "images", "imbalance", "train_images", "evaluate_images")


def load_imdb_params(path):
    return load_params(*IMDB, path=path)


def load_image_params(path):
    return load_params(*IMAGES, path=path)


def load_sweep_params(path):
    return load_params("imdb", "evaluate_imdb", "sweeps", path=path)


def with_value(params: dict, dotted: str, value) -> dict:
    """A deep copy of params with the dotted key set to value."""
    params = copy.deepcopy(params)
    *sections, key = dotted.split(".")
    target = params
    for section in sections:
        target = target[section]
    target[key] = value
    return params


def write(tmp_path, params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_defaults_load(tmp_path, default_params):
    params = load_imdb_params(write(tmp_path, default_params))
    assert params.imdb.tokenizer == "normalized"
    assert params.train_imdb.head == "bce" and params.train_imdb.lr > 0
    assert all(len(source.sha256) == 64 for source in params.data.imdb.sources)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("train_imdb", "lr", -0.1, "train_imdb.lr must be a positive number, got -0.1"),
        ("train_imdb", "lr", 0, "train_imdb.lr must be a positive number"),
        ("train_imdb", "batch_size", 0, "train_imdb.batch_size must be a positive integer, got 0"),
        ("train_imdb", "epochs", 2.5, "train_imdb.epochs must be a positive integer"),
        ("train_imdb", "epochs", True, "train_imdb.epochs must be a positive integer"),
        ("train_imdb", "head", "softmax", "train_imdb.head must be one of bce, ce, got 'softmax'"),
        ("train_imdb", "optimizer", "rmsprop", "train_imdb.optimizer must be one of sgd, adam"),
        ("train_imdb", "device", "tpu", "train_imdb.device must be one of auto, cpu, cuda"),
        ("train_imdb", "model", "rnn", "train_imdb.model must be one of embedding_bag, dense"),
        ("train_imdb", "shuffle", "yes", "train_imdb.shuffle must be true or false"),
        ("train_imdb", "momentum", -1, "train_imdb.momentum must be a number >= 0"),
        ("train_imdb", "processes", 0, "train_imdb.processes must be a positive integer, got 0"),
        ("imdb", "tokenizer", "bpe", "imdb.tokenizer must be one of split, normalized, got 'bpe'"),
        ("imdb", "vocab_size", -5, "imdb.vocab_size must be a positive integer, got -5"),
        ("encode_imdb", "n", -1, "encode_imdb.n must be an integer >= 0"),
        ("evaluate_imdb", "batch_size", "big", "evaluate_imdb.batch_size must be a positive integer"),
    ],
)
def test_bad_value_names_the_param(tmp_path, default_params, section, key, value, message):
    params = copy.deepcopy(default_params)
    params[section][key] = value
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        load_imdb_params(write(tmp_path, params))
    assert "\n" not in str(err.value)


def test_bad_fetch_params(tmp_path, default_params):
    params = copy.deepcopy(default_params)
    for bad in ({"at": "ftp://example.org/a.tar.gz", "sha256": "0" * 64}, {"at": "a.tar.gz", "sha256": "abc"},
                {"at": "a.tar.gz", "sha256": "0" * 64, "md5": "0" * 32}):
        params["data"]["imdb"]["sources"] = [bad]
        with pytest.raises(UserError, match=re.escape("data.imdb.sources must be a non-empty list of {at: a local path "
                                                      "or a URL (http://, https://, file://), sha256: 64 hex digits}")):
            load_imdb_params(write(tmp_path, params))


def test_missing_key_and_section(tmp_path, default_params):
    params = copy.deepcopy(default_params)
    del params["train_imdb"]["seed"]
    with pytest.raises(UserError, match="missing train_imdb.seed"):
        load_imdb_params(write(tmp_path, params))
    del params["train_imdb"]
    with pytest.raises(UserError, match="missing section 'train_imdb'"):
        load_imdb_params(write(tmp_path, params))


def test_batch_that_processes_cannot_share_equally(tmp_path, default_params):
    params = copy.deepcopy(default_params)
    params["train_imdb"].update(processes=3, batch_size=128)
    with pytest.raises(UserError, match=r"train_imdb.batch_size must be a multiple of processes \(3\), so that every "
                                        r"process takes an equal share of a batch, got 128"):
        load_imdb_params(write(tmp_path, params))
    params["train_imdb"]["batch_size"] = 129
    assert load_imdb_params(write(tmp_path, params)).train_imdb.processes == 3


def test_odd_balanced_subset(tmp_path, default_params):
    params = copy.deepcopy(default_params)
    params["encode_imdb"].update(n=201, balanced=True)
    with pytest.raises(UserError, match="encode_imdb.n must be even"):
        load_imdb_params(write(tmp_path, params))


def test_unreadable_file(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_imdb_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train_imdb: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        load_imdb_params(bad)


def test_image_and_benchmark_defaults_load(tmp_path, default_params):
    path = write(tmp_path, default_params)
    params = load_image_params(path)
    assert params.images.datasets == ("fashion_mnist",) and "weighted_sampler" in params.images.strategies
    assert params.imbalance.classes == (1, 2) and params.imbalance.fraction == 0.05
    assert len(params.data.fashion_mnist.raw_md5) == 4 and params.train_images.model == "cnn"
    assert load_params("benchmark_loader", path=path).benchmark_loader.num_workers == (0, 1, 2, 4, 8)
    assert load_params("benchmark_step", path=path).benchmark_step.device == "auto"


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        ("images.strategies", ["none", "smote"], "images.strategies must be a non-empty list of distinct values from none, weighted_sampler, class_weights, undersample, got ['none', 'smote']"),
        ("images.datasets", [], "images.datasets must be a non-empty list"),
        ("imbalance.classes", [1, 1], "imbalance.classes must be a non-empty list of distinct class ids from 0 to 9"),
        ("imbalance.classes", [10], "imbalance.classes must be a non-empty list of distinct class ids from 0 to 9, got [10]"),
        ("imbalance.fraction", 1.5, "imbalance.fraction must be a number in (0, 1], got 1.5"),
        ("imbalance.fraction", 0, "imbalance.fraction must be a number in (0, 1], got 0"),
        ("data.fashion_mnist.raw_md5", {"train-images-idx3-ubyte": "xyz"}, "data.fashion_mnist.raw_md5 must be a mapping of IDX file names"),
        ("data.fashion_mnist.raw_md5", {"train-images": "0" * 32}, "data.fashion_mnist.raw_md5 must be a mapping"),
        ("train_images.model", "resnet", "train_images.model must be one of cnn, mlp"),
        ("train_images.precision", "fp16", "train_images.precision must be one of fp32, bf16, got 'fp16'"),
        ("benchmark_loader.num_workers", [0, -1], "benchmark_loader.num_workers must be a non-empty list of distinct integers >= 0"),
        ("benchmark_loader.prefetch_factor", [0], "benchmark_loader.prefetch_factor must be a non-empty list of distinct integers >= 1"),
        ("benchmark_step.device", "tpu", "benchmark_step.device must be one of auto, cpu, cuda"),
    ],
)
def test_bad_image_value_names_the_param(tmp_path, default_params, dotted, value, message):
    path = write(tmp_path, with_value(default_params, dotted, value))
    sections = dotted.split(".")
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_params(*IMAGES, sections[0], path=path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        ("sweeps.points.lr", [0.01, -1], "sweeps.points.lr must be a non-empty list of distinct values, each a positive number, got [0.01, -1]"),
        ("sweeps.points.batch_size", [1, 1.5], "sweeps.points.batch_size must be a non-empty list of distinct values, each a positive integer"),
        ("sweeps.points.shuffle", ["yes"], "sweeps.points.shuffle must be a non-empty list of distinct values, each true or false"),
        ("sweeps.points.subset", ["all"], "sweeps.points.subset must be a non-empty list of distinct values, each one of first, balanced"),
        ("sweeps.subset_size", 201, "sweeps.subset_size must be an even positive integer"),
        ("sweeps.overfit.reviews", 7, "sweeps.overfit.reviews must be an even positive integer"),
        ("sweeps.base.optimizer", "lbfgs", "sweeps.base.optimizer must be one of sgd, adam"),
    ],
)
def test_bad_sweep_value_names_the_param(tmp_path, default_params, dotted, value, message):
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_sweep_params(write(tmp_path, with_value(default_params, dotted, value)))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        ("train_imdb.lr", float("inf"), "train_imdb.lr must be a positive number, got inf"),
        ("train_imdb.grad_clip", float("nan"), "train_imdb.grad_clip must be a number >= 0, got nan"),
        ("data.imdb.sources", [], "data.imdb.sources must be a non-empty list of {at: a local path"),
        ("train_imdb.lerning_rate", 0.1, "params.yaml: unknown key train_imdb.lerning_rate (did you mean train_imdb.lr?)"),
        ("imdb.vocab", 10, "params.yaml: unknown key imdb.vocab (did you mean imdb.vocab_size?)"),
        ("train_imbd", {}, "params.yaml: unknown key train_imbd (did you mean train_imdb?)"),
        ("data.cifar", {}, "params.yaml: unknown key data.cifar (known keys: fashion_mnist, imdb, mnist)"),
    ],
)
def test_non_finite_numbers_and_unknown_keys_are_one_line(tmp_path, default_params, dotted, value, message):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(with_value(default_params, dotted, value)))
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_imdb_params(path)
    assert "\n" not in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path):
    (tmp_path / "params.yaml").write_text("imdb:\n  tokenizer: split\n  vocab_size: [1, 2\ntrain_imdb: {}\n")
    with pytest.raises(UserError, match=r"params.yaml: not valid YAML at line 4, column \d+"):
        load_imdb_params(tmp_path / "params.yaml")


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        ("images.strategies", "none", "images.strategies must be a non-empty list of distinct values from none, weighted_sampler, class_weights, undersample, got 'none'"),
        ("images.datasets", ["cifar"], "images.datasets must be a non-empty list of distinct values from mnist, fashion_mnist, got ['cifar']"),
        ("images.datasets", "mnist", "images.datasets must be a non-empty list of distinct values from mnist, fashion_mnist, got 'mnist'"),
        ("train_images.lr", float("inf"), "train_images.lr must be a positive number, got inf"),
        ("imbalance.seeds", 1, "unknown key imbalance.seeds (did you mean imbalance.seed?)"),
    ],
)
def test_image_lists_and_keys_are_checked(tmp_path, default_params, dotted, value, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_image_params(write(tmp_path, with_value(default_params, dotted, value)))


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        ("sweeps.points.lr", [0.01, float("inf")], "sweeps.points.lr must be a non-empty list of distinct values, each a positive number, got [0.01, inf]"),
        ("sweeps.base.epoch", 3, "unknown key sweeps.base.epoch (did you mean sweeps.base.epochs?)"),
        ("sweeps.overfit.lr", float("inf"), "sweeps.overfit.lr must be a positive number, got inf"),
        ("sweeps.points.batch", [1], "unknown key sweeps.points.batch (did you mean sweeps.points.batch_size?)"),
    ],
)
def test_sweep_values_and_keys_are_checked(tmp_path, default_params, dotted, value, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_sweep_params(write(tmp_path, with_value(default_params, dotted, value)))


def test_data_sources_are_lists_tried_in_order(tmp_path, default_params):
    imdb = load_imdb_params(write(tmp_path, default_params)).data.imdb.sources
    assert imdb[-1].at.startswith("https://") and all(len(source.sha256) == 64 for source in imdb)
    assert load_image_params(write(tmp_path, default_params)).data.fashion_mnist.sources[-1] == "download"
    with pytest.raises(UserError, match=re.escape("data.imdb.sources must be a non-empty list of {at: a local path")):
        load_imdb_params(write(tmp_path, with_value(default_params, "data.imdb.sources", [{"at": "x.tar.gz"}])))


def test_every_param_a_message_names_exists_in_params_yaml(default_params):
    """Dotted names in the code's strings (`data.{name}.source`, 'train_imdb.device', ...) are real params.yaml keys."""
    import ast

    from reprolab.core.params import Params
    from reprolab.core.registry import IMAGE_DATASETS

    name = re.compile(r"(?<![/\w.])(?:%s)(?:\.(?:[a-z_0-9]+|\{name\}))+(?![\w/])" % "|".join(Params.model_fields))
    found = set()
    for path in [*(REPO / "src").rglob("*.py"), *(REPO / "stages").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found |= {(path.name, match) for match in name.findall(node.value) if not match.endswith((".py", ".pt", ".json"))}
    assert len(found) > 20
    for source, dotted in sorted(found):
        for expanded in {dotted.replace("{name}", dataset) for dataset in IMAGE_DATASETS}:
            value = default_params
            for part in expanded.split("."):
                assert isinstance(value, dict) and part in value, f"{source} names {expanded}, not in params.yaml"
                value = value[part]


@pytest.mark.parametrize("name", ["params.yaml", "dvc.yaml", "dvc.lock"])
def test_dvc_reads_the_committed_yaml_alike_with_its_c_parser(name):
    """DVC reads these with ruamel.yaml, whose C parser (ruamel.yaml.clib, in requirements) is stricter than its pure
    one: a URL in a flow mapping ({at: https://...}) must be quoted, or DVC cannot start."""
    import subprocess

    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    text = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert CParser is not None, "ruamel.yaml.clib is not installed"
    assert YAML(typ="safe").load(text) == YAML(typ="safe", pure=True).load(text)
