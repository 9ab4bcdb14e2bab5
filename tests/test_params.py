import copy

import pytest
import yaml

from reprolab.errors import UserError
from reprolab.params import load_imdb_params


def write(tmp_path, params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_defaults_load(tmp_path, default_params):
    params = load_imdb_params(write(tmp_path, default_params))
    assert params.vocab.tokenizer == "normalized"
    assert params.train.head == "bce" and params.train.lr > 0
    assert len(params.fetch.sha256) == 64


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
    params["data"]["imdb"]["url"] = "ftp://example.org/a.tar.gz"
    with pytest.raises(UserError, match="data.imdb.url must be a URL"):
        load_imdb_params(write(tmp_path, params))
    params = copy.deepcopy(default_params)
    params["data"]["imdb"]["sha256"] = "abc"
    with pytest.raises(UserError, match="data.imdb.sha256 must be a sha256 of 64 hex digits"):
        load_imdb_params(write(tmp_path, params))


def test_missing_key_and_section(tmp_path, default_params):
    params = copy.deepcopy(default_params)
    del params["train_imdb"]["seed"]
    with pytest.raises(UserError, match="missing train_imdb.seed"):
        load_imdb_params(write(tmp_path, params))
    del params["train_imdb"]
    with pytest.raises(UserError, match="missing section 'train_imdb'"):
        load_imdb_params(write(tmp_path, params))


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
