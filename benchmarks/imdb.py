"""IMDB, the course's code paths beside this project's, same process and data: preparation, epoch time, size.

Seed (002, II.2.c, the "optimized" cached version): Counter vocabulary over the tokenized train
reviews, `sorted(counter, key=counter.get, reverse=True)`, one dense float one-hot tensor per
review built in the Dataset's __init__, a default DataLoader (batch 128, shuffle), the course's
OneHotMLP (nn.Linear on the dense rows), SGD. Ours: the pipeline's library calls (tokenize on all
cores, bincount vocabulary, CSR bags written and read back as the stages do), BagBatches,
OneHotMLP on word-id bags with sparse first-layer gradients, trained by engines.train_epoch, the
pipeline's own epoch (its plain-SGD step by hand). Both read the archive with the same
reader (the course's torchtext loader no longer installs), use the same tokenizer, vocabulary size,
lr, batch size and epochs, and are scored on the whole test split. The epochs alternate, and
each model's weights are read once before its timed epoch, so neither starts with the caches the
other's epoch filled.

    python benchmarks/imdb.py --archive ../shared/data/aclImdb_v1_labeled.tar.gz
"""

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from reprolab.core.engines import train_epoch
from reprolab.core.optim import make_optimizer
from reprolab.core.params import ImdbRun
from reprolab.core.train import evaluate, loss_function
from reprolab.imdb.batches import BagBatches
from reprolab.imdb.data import (SPLITS, TOKENIZE, build_vocab, encode_inputs, load_bags, load_corpus, read_archive,
                                save_bags, save_corpus, tokenize_reviews)
from reprolab.imdb.models import OneHotMLP
from reprolab.speed.course import CourseOneHotMLP


class CourseCachedDataset(Dataset):
    """Course 002 II.2.c: the one-hot rows computed once in __init__ and kept as dense tensors."""

    def __init__(self, texts, labels, vocab, tokenize):
        self.labels = [torch.tensor(int(label)) for label in labels]
        self.sentences = []
        for line in texts:
            row = torch.zeros(len(vocab) + 1)
            row[[vocab.get(word, 0) for word in set(tokenize(line))]] = 1
            self.sentences.append(row)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.sentences[idx], self.labels[idx]


def course_prepare(archive: str, tokenizer: str, vocab_size: int) -> dict[str, CourseCachedDataset]:
    """The course's vocabulary and cached datasets, from the archive."""
    reviews, tokenize = read_archive(archive), TOKENIZE[tokenizer]
    counter = Counter()
    for line in reviews["train"].texts:
        counter.update(tokenize(line))
    most_frequent = sorted(counter, key=counter.get, reverse=True)[:vocab_size]
    vocab = {word: i for i, word in enumerate(most_frequent, 1)}
    return {split: CourseCachedDataset(reviews[split].texts, reviews[split].labels, vocab, tokenize) for split in SPLITS}


def our_prepare(archive: str, tokenizer: str, vocab_size: int, folder: Path) -> tuple[dict, int]:
    """tokenize_imdb + build_vocab + encode_imdb as the stages run them, files included."""
    save_corpus(tokenize_reviews(read_archive(archive), tokenizer), folder / "tokens")
    corpus = load_corpus(folder / "tokens")
    save_bags(*encode_inputs(corpus, build_vocab(corpus, vocab_size), "bags"), folder / "encoded.npz")
    return load_bags(folder / "encoded.npz")


def warm(model: nn.Module) -> None:
    """Read the model's weights once: the other model's epoch, just before, has pushed them out of the CPU caches."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.sum()


def timed(function, *args):
    """(result, wall seconds, this process's CPU seconds): CPU time well below threads x wall means a busy machine."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - start, time.process_time() - cpu


def course_epoch(model, loader, optimizer, criterion) -> None:
    model.train()
    for inputs, labels in loader:
        outputs = model(inputs)
        loss = criterion(outputs.squeeze(), labels.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@torch.no_grad()
def course_accuracy(model, loader) -> float:
    model.eval()
    correct = total = 0
    for inputs, labels in loader:
        predicted = torch.round(torch.sigmoid(model(inputs).squeeze()))
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
    return correct / total


def our_params(lr: float, epochs: int) -> ImdbRun:
    """train_imdb's section for the course's setup: plain SGD, so training takes the model's own sparse step."""
    return ImdbRun(model="embedding_bag", hidden=200, head="bce", optimizer="sgd", lr=lr,
                       momentum=0.0, weight_decay=0.0, batch_size=128, epochs=epochs, shuffle=True, seed=0,
                       grad_clip=0.0, device="cpu", engine="eager", deterministic=True, precision="fp32").named("benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True)
    parser.add_argument("--tokenizer", default="normalized", choices=sorted(TOKENIZE))
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")

    course_data, course_prep, _ = timed(course_prepare, args.archive, args.tokenizer, args.vocab_size)
    with tempfile.TemporaryDirectory() as folder:
        (bags, num_features), our_prep, _ = timed(our_prepare, args.archive, args.tokenizer, args.vocab_size, Path(folder))
        encoded_bytes = (Path(folder) / "encoded.npz").stat().st_size
    dense_bytes = sum(len(bags[split]) for split in SPLITS) * num_features * 4
    print(f"preparation: seed {course_prep:.1f} s, ours {our_prep:.1f} s ({course_prep / our_prep:.1f}x)")
    print(f"encoded size: {encoded_bytes / 1e6:.1f} MB vs {dense_bytes / 1e9:.2f} GB dense float32 "
          f"({100 * encoded_bytes / dense_bytes:.2f}%)")

    torch.manual_seed(0)
    course_model = CourseOneHotMLP(num_features - 1)
    seed_optimizer, seed_criterion = torch.optim.SGD(course_model.parameters(), lr=args.lr), nn.BCEWithLogitsLoss()
    train_loader = DataLoader(course_data["train"], batch_size=128, shuffle=True)
    test_loader = DataLoader(course_data["test"], batch_size=128, shuffle=False)
    torch.manual_seed(0)
    our_model = OneHotMLP(num_features, 200, "bce", sparse=True)
    params = our_params(args.lr, args.epochs)
    our_optimizer, our_criterion = make_optimizer(our_model, params), loss_function("bce")
    train_batches = BagBatches(bags["train"], 128, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(0))
    seed_times, our_times, seed_cpu, our_cpu = [], [], [], []
    for epoch in range(1, args.epochs + 1):  # interleaved, so drifting machine load hits both alike
        warm(course_model)
        _, wall, cpu = timed(course_epoch, course_model, train_loader, seed_optimizer, seed_criterion)
        seed_times.append(wall)
        seed_cpu.append(cpu)
        warm(our_model)
        _, wall, cpu = timed(train_epoch, our_model, train_batches, our_optimizer, our_criterion, params, epoch)
        our_times.append(wall)
        our_cpu.append(cpu)
    seed_acc = course_accuracy(course_model, test_loader)
    our_acc = evaluate(our_model, BagBatches(bags["test"], 1024, torch.device("cpu")), our_criterion).accuracy
    seed_median, our_median = statistics.median(seed_times), statistics.median(our_times)
    print(f"epoch (median of {args.epochs}): seed {seed_median:.3f} s, ours {our_median:.3f} s "
          f"({seed_median / our_median:.1f}x)")
    # our epoch is many small ops, so a busy or shared machine slows it more than the course's large matmuls
    print(f"fastest epochs: seed {min(seed_times):.3f} s, ours {min(our_times):.3f} s "
          f"({min(seed_times) / min(our_times):.1f}x)")
    print(f"process CPU seconds per epoch (median): seed {statistics.median(seed_cpu):.3f}, ours "
          f"{statistics.median(our_cpu):.3f}; CPU / wall, ours: {sum(our_cpu) / sum(our_times):.2f} of "
          f"{torch.get_num_threads()} threads (lower: other work had the cores)")
    print(f"test accuracy after {args.epochs} epochs of SGD lr {args.lr}: seed {seed_acc:.4f}, ours {our_acc:.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "prep_seconds": {"seed": round(course_prep, 2), "ours": round(our_prep, 2)},
            "prep_speedup": round(course_prep / our_prep, 2),
            "encoded_bytes": encoded_bytes, "dense_float32_bytes": dense_bytes,
            "epoch_seconds": {"seed": [round(t, 3) for t in seed_times], "ours": [round(t, 3) for t in our_times]},
            "epoch_cpu_seconds": {"seed": [round(t, 3) for t in seed_cpu], "ours": [round(t, 3) for t in our_cpu]},
            "epoch_speedup": round(seed_median / our_median, 2),
            "fastest_epoch_speedup": round(min(seed_times) / min(our_times), 2),
            "test_accuracy": {"seed": seed_acc, "ours": our_acc},
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
