"""Failures are one line and leave nothing behind: divergence, bad files, full disks, unwritable folders, umask."""

import gzip
import io
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest
import torch

from conftest import REVIEWS, write_imdb_archive
from project import REPO
from reprolab.core import atomic
from reprolab.core.batches import TensorBatches
from reprolab.core.errors import UserError
from reprolab.core.params import Imbalance
from reprolab.core.record import RunFiles, save_checkpoint, train_and_record
from reprolab.core.train import Run, build_model, loss_function
from reprolab.images.data import imbalance_indices, load_kept
from reprolab.images.models import SimpleCNN
from reprolab.imdb.data import Bags, load_bags, load_corpus, read_archive, save_bags
from reprolab.imdb.sweeps import point_params, train_point
from test_models import NUM_FEATURES, random_bags, train_params


def test_diverging_sgd_stops_at_the_first_nan_batch_naming_the_params():
    bags = {"train": random_bags(64), "test": random_bags(32, seed=1)}
    params = train_params(optimizer="sgd", lr=1e30, batch_size=16, epochs=3)
    with pytest.raises(UserError) as err:
        train_point(params, bags, NUM_FEATURES, torch.device("cpu"), 32)
    message = str(err.value)
    assert message.startswith("train_imdb: training diverged: loss is nan at epoch 1, batch ")
    assert "lower train_imdb.lr (now 1e+30) or set train_imdb.grad_clip (now 0)" in message and "\n" not in message


def test_a_diverging_sweep_point_names_the_key_its_value_came_from():
    bags = {"train": random_bags(64), "test": random_bags(32, seed=1)}
    params = point_params(train_params("sweeps.base", optimizer="sgd", batch_size=16, epochs=1), "lr", 1e30)
    with pytest.raises(UserError, match=r"lower sweeps\.points\.lr \(now 1e\+30\) or set sweeps\.base\.grad_clip \(now 0\)"):
        train_point(params, bags, NUM_FEATURES, torch.device("cpu"), 32)


def test_training_stops_at_the_bad_batch_and_runs_no_later_one():
    from reprolab.core.engines import train_epoch
    from reprolab.core.train import loss_function

    model = torch.nn.Linear(2, 1)
    params = train_params(optimizer="sgd", lr=0.1, epochs=1)
    rows = [torch.ones(4, 2), torch.full((4, 2), float("nan")), torch.ones(4, 2), torch.ones(4, 2)]
    taken = []

    def batches():
        for number, inputs in enumerate(rows, 1):
            taken.append(number)
            yield inputs, torch.ones(4, dtype=torch.long)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(UserError, match="loss is nan at epoch 1, batch 2 of None"):
        train_epoch(model, batches(), optimizer, loss_function("bce"), params, 1)
    assert taken == [1, 2]  # the bad batch is the last one drawn: no step after it
    assert torch.isfinite(model.weight).all()  # and its step was not taken


def test_huge_but_finite_loss_is_divergence_not_an_overflow():
    """lr 1e6 with the IMDB model gives losses in the thousands: exp() overflows where perplexity is logged."""
    bags = {"train": random_bags(64), "test": random_bags(32, seed=1)}
    with pytest.raises(UserError, match=r"training diverged: (train|test) loss is .* after epoch 1 \(its perplexity overflows\)"):
        train_point(train_params(optimizer="sgd", lr=1e6, epochs=1), bags, NUM_FEATURES, torch.device("cpu"), 32)


def test_diverging_image_run_writes_no_model_or_metrics(tmp_path):
    torch.manual_seed(0)
    labels = torch.arange(128) % 10
    images = torch.randn(128, 1, 28, 28)
    train = TensorBatches(images, labels, 32, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(0))
    params = train_params(section="train_images", optimizer="sgd", lr=1e6, epochs=2)
    criterion = loss_function("ce")
    with pytest.raises(UserError, match="train_images: training diverged"):
        train_and_record(Run(SimpleCNN(), {"name": "cnn", "hidden": 0}, train, train, train, criterion, "eager", 10), params,
                         RunFiles(tmp_path / "metrics", tmp_path / "model.pt", tmp_path / "timings.json"),
                         torch.device("cpu"))
    assert sorted(os.listdir(tmp_path)) == []


def test_metrics_never_hold_nan(tmp_path):
    with pytest.raises(UserError, match="metrics.json: refusing to write a non-finite number"):
        atomic.write_json(tmp_path / "metrics.json", {"loss": float("nan")})
    assert not list(tmp_path.iterdir())


def test_a_size_the_machine_cannot_hold_is_one_line_before_allocating():
    from reprolab.imdb.models import OneHotMLP

    params = train_params(hidden=10_000_000)
    with pytest.raises(UserError, match=r"params.yaml: train_imdb.hidden and imdb.vocab_size make a model of "
                                        r"200,030,000,001 weights, which .* need about [\d,.]+ GiB, more than"):
        build_model(lambda: OneHotMLP(20_001, 10_000_000), params, torch.device("cpu"), "train_imdb.hidden and imdb.vocab_size")


def test_batch_larger_than_the_split_is_rejected():
    bags = {"train": random_bags(20), "test": random_bags(8, seed=1)}
    with pytest.raises(UserError, match=r"train_imdb.batch_size=64 is larger than the 20 training reviews"):
        train_point(train_params(batch_size=64), bags, NUM_FEATURES, torch.device("cpu"), 8)


def test_fraction_that_keeps_no_image_is_rejected():
    labels = torch.arange(1000) % 10
    with pytest.raises(UserError, match=r"imbalance.fraction=1e-05 keeps no image of class 1 \(100 x 1e-05 rounds to 0\)"):
        imbalance_indices(labels, Imbalance(classes=(1, 2), fraction=1e-5, seed=0))


def test_tar_cut_between_members_is_truncated_not_short(tmp_path):
    whole = write_imdb_archive(tmp_path / "whole.tar.gz")
    data = gzip.decompress(whole.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
    cut = members[len(members) // 2].offset  # the start of a header: a valid tar up to there, without its end
    (tmp_path / "cut.tar.gz").write_bytes(gzip.compress(data[:cut]))
    with pytest.raises(UserError, match=r"cut.tar.gz: truncated tar \(no end-of-archive marker after \d+ reviews\)"):
        read_archive(tmp_path / "cut.tar.gz")
    assert sum(len(reviews.texts) for reviews in read_archive(whole).values()) == len(REVIEWS)


def truncated(path, keep: float = 0.5):
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])
    return path


def test_truncated_intermediate_files_are_one_line(tmp_path):
    bags = Bags(ids=np.arange(50, dtype=np.uint16), offsets=np.arange(0, 51, 5), labels=np.ones(10, dtype=np.uint8))
    save_bags({"train": bags, "test": bags}, 60, tmp_path / "inputs.npz")
    with pytest.raises(UserError, match="inputs.npz: unreadable encoded dataset .*rerun 'dvc repro -f encode_imdb'"):
        load_bags(truncated(tmp_path / "inputs.npz"))
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens/words.json").write_text("[]")
    np.savez(tmp_path / "tokens/arrays.npz", train_ids=np.arange(1000))
    truncated(tmp_path / "tokens/arrays.npz")
    with pytest.raises(UserError, match="tokens: unreadable tokenized corpus"):
        load_corpus(tmp_path / "tokens")
    atomic.save_torch(tmp_path / "kept.pt", torch.arange(1000))
    with pytest.raises(UserError, match="kept.pt: unreadable list of kept images"):
        load_kept(truncated(tmp_path / "kept.pt"))


def test_same_weights_give_byte_identical_files_under_any_name(tmp_path):
    torch.manual_seed(0)
    model = SimpleCNN()
    save_checkpoint(model, {"name": "cnn"}, str(tmp_path / "a.pt"))
    save_checkpoint(model, {"name": "cnn"}, str(tmp_path / "other/b.pt"))
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other/b.pt").read_bytes()
    script = "import sys, torch; from reprolab.core.atomic import save_torch; save_torch(sys.argv[1], torch.arange(5.0))"
    for name in ("c.pt", "d.pt"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True)
    assert (tmp_path / "c.pt").read_bytes() == (tmp_path / "d.pt").read_bytes()


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic.write_json(tmp_path / "metrics.json", {"a": 1})
        with atomic.atomic_path(tmp_path / "plots", directory=True) as folder:
            (folder / "sub").mkdir()
            (folder / "sub/x.tsv").write_text("x\n")
    finally:
        os.umask(old)
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "metrics.json") == 0o644
    assert mode(tmp_path / "plots") == mode(tmp_path / "plots/sub") == 0o755
    assert mode(tmp_path / "plots/sub/x.tsv") == 0o644


def test_a_replaced_folder_keeps_dvcs_gitignore_and_nothing_else_of_the_old_one(tmp_path):
    """DVC lists a DVCLive folder's cached outputs in its .gitignore and rewrites it only after a stage it runs;
    the same stage run directly must not leave those outputs for git to take."""
    metrics = tmp_path / "metrics"
    for folder in ("plots/sklearn", "gone"):
        (metrics / folder).mkdir(parents=True)
        (metrics / folder / ".gitignore").write_text("/roc.json\n")
    (metrics / ".gitignore").write_text("/metrics.json\n")
    (metrics / "roc.png").write_bytes(b"an old run's figure")
    with atomic.atomic_path(metrics, directory=True) as folder:
        (folder / "metrics.json").write_text("{}\n")
        (folder / "plots/sklearn").mkdir(parents=True)
        (folder / "plots/sklearn/roc.json").write_text("{}\n")
    files = sorted(str(p.relative_to(metrics)) for p in metrics.rglob("*") if p.is_file())
    assert files == [".gitignore", "metrics.json", "plots/sklearn/.gitignore", "plots/sklearn/roc.json"]
    assert (metrics / ".gitignore").read_text() == "/metrics.json\n"
    assert (metrics / "plots/sklearn/.gitignore").read_text() == "/roc.json\n"
    with atomic.atomic_path(metrics, directory=True) as folder:  # a folder that brings its own keeps it
        (folder / ".gitignore").write_text("/new.json\n")
    assert (metrics / ".gitignore").read_text() == "/new.json\n"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_next_run_removes_what_a_killed_run_left(tmp_path):
    stale_file = tmp_path / f".model.pt.{dead_pid()}.abc123.tmp"
    stale_file.write_bytes(b"half a model")
    stale_dir = tmp_path / f".metrics.{dead_pid()}.xyz.tmp"
    stale_dir.mkdir()
    live = tmp_path / f".model.pt.{os.getppid()}.live.tmp"  # a run still going (pytest's parent): kept
    live.write_bytes(b"")
    atomic.save_torch(tmp_path / "model.pt", torch.zeros(2))
    with atomic.atomic_path(tmp_path / "metrics", directory=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pt", "metrics", live.name])


def run_with_file_size_limit(code: str, limit: int, cwd) -> subprocess.CompletedProcess:
    """Python code in a process whose files cannot grow past limit bytes, as on a full disk."""
    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    wrapped = f"from reprolab.core.cli import run_stage\ndef main():\n{textwrap.indent(code, '    ')}\nrun_stage(main)\n"
    return subprocess.run([sys.executable, "-c", wrapped], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=limit_files)


@pytest.mark.parametrize("code", [
    "import torch\nfrom reprolab.core.record import save_checkpoint\n"
    "save_checkpoint(torch.nn.Linear(1000, 1000), {}, 'out/model.pt')",
    "from reprolab.core.atomic import write_json\nwrite_json('out/metrics.json', {'x': list(range(100000))})",
])
def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, code):
    result = run_with_file_size_limit(code, 10_000, tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: out/"), result.stderr
    assert "cannot write (File too large)" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_unwritable_output_folder_fails_before_training(tmp_path):
    (tmp_path / "models").write_text("a file where the models folder should be")
    started = []

    class Batches(list):
        def __iter__(self):
            started.append(True)
            return super().__iter__()

    batches = Batches([(torch.randn(4, 1, 28, 28), torch.arange(4))])
    criterion = loss_function("ce")
    with pytest.raises(UserError, match="cannot write .*model.pt there"):
        train_and_record(Run(SimpleCNN(), {}, batches, batches, batches, criterion, "eager", 10), train_params(),
                         RunFiles(tmp_path / "metrics", tmp_path / "models/model.pt", tmp_path / "timings.json"),
                         torch.device("cpu"))
    assert not started and not (tmp_path / "metrics").exists()


@pytest.mark.parametrize("script, args", [
    ("fetch_images.py", []), ("train_images.py", []), ("sweep_imdb.py", []), ("imbalance.py", []),
])
def test_missing_stage_argument_is_a_usage_line(script, args):
    result = subprocess.run([sys.executable, f"stages/{script}", *args], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: python stages/{script}") and "the following arguments are required" in result.stderr


def test_help_says_what_a_stage_reads_and_writes_and_runs_nothing(tmp_path):
    result = subprocess.run([sys.executable, REPO / "stages/train_imdb.py", "--help"], cwd=REPO, capture_output=True,
                            text=True, check=True)
    assert "stage train_imdb (python stages/train_imdb.py)" in result.stdout
    assert "reads:  stages/train_imdb.py" in result.stdout and "writes: models/imdb_mlp.pt" in result.stdout
    assert "params: train_imdb" in result.stdout and "training on" not in result.stdout


def test_data_too_large_for_the_gpu_names_its_size_and_what_to_set(monkeypatch):
    from reprolab.core import train

    monkeypatch.setattr(train, "available_memory", lambda device: 2 * 2**30)
    with pytest.raises(UserError, match=r"params.yaml: train_images.device puts the normalised images on the GPU: "
                                        r"3.0 GiB, more than the 2.0 GiB free there; set train_images.device: cpu"):
        train.require_device_memory(3 * 2**30, torch.device("cuda"), "the normalised images", "train_images.device")
    train.require_device_memory(3 * 2**30, torch.device("cpu"), "the normalised images", "train_images.device")
    assert train.bags_bytes([random_bags(10)], graph=True) > train.bags_bytes([random_bags(10)], graph=False)


def test_gpu_benchmark_without_cuda_is_one_line(tmp_path, default_params):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    params = {**default_params, "benchmark_gpu": {**default_params["benchmark_gpu"], "devices": ["cuda"]}}
    (tmp_path / "params.yaml").write_text(__import__("yaml").safe_dump(params))
    result = subprocess.run([sys.executable, REPO / "stages/benchmark_gpu.py", "cuda"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == "error: benchmark_gpu@cuda needs a CUDA GPU and PyTorch sees none; run it on a GPU machine\n"
    assert list(tmp_path.iterdir()) == [tmp_path / "params.yaml"]


class CodeOnLoad:
    """A pickle that runs a command when an unsafe loader opens it."""

    def __reduce__(self):
        return (os.system, ("touch ran-code",))


IMDB_CONFIG = {"model": "embedding_bag", "num_features": NUM_FEATURES, "hidden": 16, "head": "bce", "sparse": False}


def write_checkpoint(path, kind: str) -> None:
    """A file as models/imdb_mlp.pt that is wrong in one way."""
    from reprolab.imdb.models import imdb_model

    model = imdb_model(IMDB_CONFIG)
    if kind == "random bytes":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "code in a pickle":
        torch.save({"config": IMDB_CONFIG, "state_dict": CodeOnLoad()}, path)
    elif kind == "a list":
        torch.save([IMDB_CONFIG, model.state_dict()], path)
    elif kind == "an unknown model":
        save_checkpoint(model, {**IMDB_CONFIG, "model": "rnn"}, str(path))
    elif kind == "an unknown config key":
        save_checkpoint(model, {**IMDB_CONFIG, "layers": 3}, str(path))
    elif kind == "weights of another shape":
        save_checkpoint(imdb_model({**IMDB_CONFIG, "hidden": 8}), IMDB_CONFIG, str(path))
    elif kind == "another vocabulary size":
        save_checkpoint(imdb_model({**IMDB_CONFIG, "num_features": 1001}), {**IMDB_CONFIG, "num_features": 1001},
                        str(path))


@pytest.mark.parametrize("kind, says", [
    ("random bytes", "not a reprolab checkpoint (or from an untrusted source)"),
    ("code in a pickle", "not a reprolab checkpoint (or from an untrusted source)"),
    ("a list", "not a reprolab checkpoint (or from an untrusted source)"),
    ("an unknown model", "builds no model (KeyError: 'rnn')"),
    ("an unknown config key", "builds no model (TypeError: OneHotMLP.__init__() got an unexpected keyword argument "
                              "'layers')"),
    ("weights of another shape", "its weights do not fit the model its config and the data make (size mismatch for"),
    ("another vocabulary size", f"torch.Size([1001, 16]) from checkpoint, the shape in current model is "
                                f"torch.Size([{NUM_FEATURES}, 16])"),
])
def test_a_bad_checkpoint_is_one_line_that_never_advises_unsafe_loading(tmp_path, monkeypatch, kind, says):
    """As evaluate_imdb reads models/imdb_mlp.pt: built for the encoded data's width, then loaded."""
    from reprolab.core.record import load_model
    from reprolab.imdb.models import imdb_model

    monkeypatch.chdir(tmp_path)
    write_checkpoint(tmp_path / "imdb_mlp.pt", kind)
    with pytest.raises(UserError) as err:
        load_model(tmp_path / "imdb_mlp.pt", lambda config: imdb_model({**config, "num_features": NUM_FEATURES}),
                   torch.device("cpu"), "train_imdb")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'imdb_mlp.pt'}: ") and says in message, message
    assert message.endswith("; rerun 'dvc repro -f train_imdb'") and "\n" not in message
    assert "weights_only" not in message and not (tmp_path / "ran-code").exists()


def test_a_checkpoint_for_images_of_another_size_says_which_size_differs(tmp_path):
    from reprolab.core.record import load_model
    from reprolab.images.models import image_model

    save_checkpoint(image_model("cnn", 0), {"name": "cnn", "hidden": 0}, str(tmp_path / "none.pt"))
    with pytest.raises(UserError, match=re.escape("size mismatch for fc.weight: copying a param with shape "
                                                  "torch.Size([10, 1440]) from checkpoint, the shape in current model "
                                                  "is torch.Size([10, 1960])")):
        load_model(tmp_path / "none.pt", lambda config: image_model(**config, image_shape=(1, 32, 32)),
                   torch.device("cpu"), "train_images@mnist")


def test_a_vocabulary_that_is_not_the_corpus_is_one_line(tmp_path):
    from reprolab.imdb.data import load_vocab, save_vocab, tokenize_reviews

    corpus = tokenize_reviews(read_archive(write_imdb_archive(tmp_path / "a.tar.gz")), "split")
    save_vocab(corpus.words[:3] + ["zebra"], "split", tmp_path / "vocab.json")
    with pytest.raises(UserError, match=r"vocab.json: 1 of its words, such as 'zebra', are not in the tokenized reviews "
                                        r"\(a vocabulary of another tokenizer\?\); rerun 'dvc repro -f build_vocab'$"):
        load_vocab(tmp_path / "vocab.json", corpus)
    (tmp_path / "vocab.json").write_text('{"words": {"a": 1}}')
    with pytest.raises(UserError, match=r"vocab.json: not a vocabulary \(its 'words' must be a list of distinct words\)"):
        load_vocab(tmp_path / "vocab.json", corpus)
    save_vocab(corpus.words[:3], "split", tmp_path / "vocab.json")
    assert load_vocab(tmp_path / "vocab.json", corpus) == corpus.words[:3]


@pytest.mark.parametrize("change, says", [
    (dict(ids=np.array([0, 70], dtype=np.uint16)), "word id 70 in a one-hot width of 60"),
    (dict(offsets=np.array([0, 2, 1])), "offsets do not split the ids into one bag per label"),
    (dict(labels=np.array([0, 2], dtype=np.uint8)), "labels other than 0 and 1"),
])
def test_encoded_data_that_does_not_fit_together_is_one_line(tmp_path, change, says):
    good = Bags(ids=np.array([3, 5], dtype=np.uint16), offsets=np.array([0, 1, 2]), labels=np.array([0, 1], dtype=np.uint8))
    bad = Bags(**{**vars(good), **change})
    save_bags({"train": good, "test": bad}, 60, tmp_path / "inputs.npz")
    with pytest.raises(UserError, match=re.escape(f"inputs.npz: corrupt encoded dataset (test: {says}); rerun "
                                                  "'dvc repro -f encode_imdb'")):
        load_bags(tmp_path / "inputs.npz")


def test_a_gzip_bomb_fails_once_it_passes_the_bound_not_after_inflating_whole(tmp_path, monkeypatch):
    from reprolab.imdb import data

    monkeypatch.setattr(data, "MAX_TAR_BYTES", 1 << 20)
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip.compress(bytes(64 << 20), compresslevel=9))  # 64 MiB of zeros in ~64 KB
    with pytest.raises(UserError, match=r"bomb.tar.gz: decompresses to more than 1 MiB, which no IMDB archive does$"):
        read_archive(bomb)
    twice = tmp_path / "two-members.tar.gz"  # gzip allows members one after another: read as one stream
    whole = write_imdb_archive(tmp_path / "whole.tar.gz").read_bytes()
    tar = gzip.decompress(whole)
    twice.write_bytes(gzip.compress(tar[:1000]) + gzip.compress(tar[1000:]))
    assert read_archive(twice)["train"].texts == read_archive(tmp_path / "whole.tar.gz")["train"].texts
