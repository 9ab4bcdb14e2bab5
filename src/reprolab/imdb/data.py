"""IMDB reviews: read the archive, tokenize, build the vocabulary, encode word-id bags."""

import io
import json
import os
import re
import string
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reprolab.core.atomic import atomic_path, write_json
from reprolab.core.clock import phase
from reprolab.core.errors import UserError
from reprolab.core.paths import imdb_inputs

SPLITS = ("train", "test")
CLASSES = ("neg", "pos")  # label = index: 0 negative, 1 positive
OOV = 0
CHUNK_REVIEWS = 2500
_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt$")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_WORD = re.compile(r"\b\w+\b")
MAX_TAR_BYTES = 1 << 30  # the official archive's tar is a few hundred MB: anything past this is not it (a gzip bomb)
READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)  # a missing, truncated or foreign file


def tokenize_split(text: str) -> list[str]:
    """The course's original tokenizer: whitespace only."""
    return text.split()


def tokenize_normalized(text: str) -> list[str]:
    """Course II.4: lowercase, ASCII punctuation removed, then \\b\\w+\\b words."""
    return _WORD.findall(text.lower().translate(_PUNCTUATION))


# one function per registry.TOKENIZERS name
TOKENIZE: dict[str, Callable[[str], list[str]]] = {
    "split": tokenize_split,
    "normalized": tokenize_normalized,
}


@dataclass
class Reviews:
    """One split's texts and labels (1 positive, 0 negative)."""

    texts: list[str]
    labels: np.ndarray


@phase("load")
def read_archive(path: str | os.PathLike) -> dict[str, Reviews]:
    """Labelled reviews of each split, positives first and each class by review id.

    A fixed order makes runs independent of the archive's member order, and puts the
    course's "first 200 reviews are all positive" trap (I.3) where the course found it.
    """
    found: dict[str, list[tuple[int, int, str]]] = {split: [] for split in SPLITS}
    try:
        # the whole tar in memory, then its members: faster than streaming members (benchmarks/README.md)
        data = gunzip(path, MAX_TAR_BYTES)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive:
                match = _MEMBER.search(member.name)
                if not (match and member.isfile()):
                    continue
                split, cls, review_id = match.group(1), match.group(2), int(match.group(3))
                text = archive.extractfile(member).read().decode("utf-8")
                found[split].append((-CLASSES.index(cls), review_id, text))
            end = archive.offset
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable IMDB .tar.gz archive ({err})") from None
    if data[end : end + 2 * tarfile.BLOCKSIZE] != bytes(2 * tarfile.BLOCKSIZE):
        # a tar cut between two members reads as a shorter, valid-looking archive
        raise UserError(f"{path}: truncated tar (no end-of-archive marker after {sum(map(len, found.values()))} "
                        "reviews); get the archive again")
    return {split: _sorted_reviews(path, split, items) for split, items in found.items()}


def gunzip(path: str | os.PathLike, limit: int) -> bytes:
    """A .gz file's content, inflated a chunk at a time and refused as soon as it passes limit bytes."""
    chunks, size, inflater = [], 0, zlib.decompressobj(wbits=31)
    with open(path, "rb") as compressed:
        while data := compressed.read(1 << 22):
            while data:
                chunks.append(inflater.decompress(data, limit + 1 - size))
                size += len(chunks[-1])
                if size > limit:
                    raise UserError(f"{path}: decompresses to more than {limit >> 20} MiB, which no IMDB archive does")
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:  # a second gzip member follows
                    data, inflater = inflater.unused_data + data, zlib.decompressobj(wbits=31)
    if not inflater.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")
    return b"".join(chunks)


def _sorted_reviews(path, split: str, items: list[tuple[int, int, str]]) -> Reviews:
    items.sort(key=lambda item: item[:2])
    labels = np.array([-item[0] for item in items], dtype=np.uint8)
    for label, cls in enumerate(CLASSES):
        if not (labels == label).any():
            raise UserError(f"{path}: no reviews under aclImdb/{split}/{cls}/ (not the IMDB archive?)")
    return Reviews(texts=[item[2] for item in items], labels=labels)


class _FirstSeenIndex(dict):
    """word -> id, ids given in order of first occurrence."""

    def __missing__(self, word: str) -> int:
        index = self[word] = len(self)
        return index


def _tokenize_chunk(texts: list[str], tokenizer: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    tokenize, index = TOKENIZE[tokenizer], _FirstSeenIndex()
    ids: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        tokens = tokenize(text)
        lengths[row] = len(tokens)
        ids.extend(map(index.__getitem__, tokens))
    return list(index), np.array(ids, dtype=np.int32), lengths


@dataclass
class TokenizedCorpus:
    """Every token of both splits as ids into `words` (first-seen order, train first)."""

    words: list[str]
    ids: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def counts(self, split: str = "train") -> np.ndarray:
        """Occurrences of every word in a split."""
        return np.bincount(self.ids[split], minlength=len(self.words))


@phase("prepare")
def tokenize_reviews(reviews: dict[str, Reviews], tokenizer: str, workers: int | None = None) -> TokenizedCorpus:
    """Tokenize every review in chunks on all cores; ids do not depend on the worker count."""
    workers = workers or len(os.sched_getaffinity(0))
    chunks = [
        (split, reviews[split].texts[start : start + CHUNK_REVIEWS])
        for split in SPLITS
        for start in range(0, len(reviews[split].texts), CHUNK_REVIEWS)
    ]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_tokenize_chunk, [texts for _, texts in chunks], [tokenizer] * len(chunks))
        index = _FirstSeenIndex()
        ids = {split: [] for split in SPLITS}
        lengths = {split: [] for split in SPLITS}
        for (split, _), (chunk_words, chunk_ids, chunk_lengths) in zip(chunks, results, strict=True):
            to_global = np.fromiter(map(index.__getitem__, chunk_words), dtype=np.int32, count=len(chunk_words))
            ids[split].append(to_global[chunk_ids])
            lengths[split].append(chunk_lengths)
    return TokenizedCorpus(
        words=list(index),
        ids={split: np.concatenate(ids[split]) for split in SPLITS},
        offsets={split: np.concatenate([[0], np.cumsum(np.concatenate(lengths[split]))]) for split in SPLITS},
        labels={split: reviews[split].labels for split in SPLITS},
    )


def save_corpus(corpus: TokenizedCorpus, dest: str | os.PathLike) -> None:
    """Write the corpus as a folder: words.json and arrays.npz."""
    with atomic_path(dest, directory=True) as tmp:
        (tmp / "words.json").write_text(json.dumps(corpus.words, ensure_ascii=False))
        arrays = {f"{split}_{name}": getattr(corpus, name)[split] for split in SPLITS for name in ("ids", "offsets", "labels")}
        np.savez(tmp / "arrays.npz", **arrays)


@phase("load")
def load_corpus(src: str | os.PathLike) -> TokenizedCorpus:
    """Read a folder written by save_corpus."""
    src = Path(src)
    try:
        words = json.loads((src / "words.json").read_text())
        with np.load(src / "arrays.npz") as arrays:
            fields = {name: {split: arrays[f"{split}_{name}"] for split in SPLITS} for name in ("ids", "offsets", "labels")}
    except READ_ERRORS as err:
        raise UserError(f"{src}: unreadable tokenized corpus ({err}); rerun 'dvc repro -f tokenize_imdb'") from None
    return TokenizedCorpus(words=words, **fields)


@phase("prepare")
def build_vocab(corpus: TokenizedCorpus, vocab_size: int) -> list[str]:
    """The vocab_size most frequent train words; ties keep first-seen order, as the course's sort."""
    counts = corpus.counts("train")
    order = np.argsort(-counts, kind="stable")[:vocab_size]
    return [corpus.words[i] for i in order[counts[order] > 0]]


def save_vocab(words: list[str], tokenizer: str, dest: str | os.PathLike) -> None:
    """The vocabulary as JSON: index 0 is out-of-vocabulary, words from 1."""
    write_json(dest, {"tokenizer": tokenizer, "oov_index": OOV, "words": words})


@phase("load")
def load_vocab(src: str | os.PathLike, corpus: TokenizedCorpus) -> list[str]:
    """The words of a vocabulary written by save_vocab, each a word of the tokenized corpus it is for."""
    rerun = "rerun 'dvc repro -f build_vocab'"
    try:
        words = json.loads(Path(src).read_text())["words"]
    except (*READ_ERRORS, TypeError) as err:
        raise UserError(f"{src}: unreadable vocabulary ({err}); {rerun}") from None
    if not (isinstance(words, list) and all(isinstance(w, str) for w in words) and len(set(words)) == len(words)):
        raise UserError(f"{src}: not a vocabulary (its 'words' must be a list of distinct words); {rerun}")
    unknown = set(words).difference(corpus.words)
    if unknown:
        raise UserError(f"{src}: {len(unknown)} of its words, such as {sorted(unknown)[0]!r}, are not in the tokenized "
                        f"reviews (a vocabulary of another tokenizer?); {rerun}")
    return words


def vocab_lookup(corpus: TokenizedCorpus, vocab: list[str]) -> np.ndarray:
    """Array mapping corpus word ids to vocabulary ids (1..len(vocab), OOV = 0)."""
    position = {word: i for i, word in enumerate(corpus.words)}
    lookup = np.full(len(corpus.words), OOV, dtype=np.int32)
    lookup[[position[word] for word in vocab]] = np.arange(1, len(vocab) + 1, dtype=np.int32)
    return lookup


@dataclass
class Bags:
    """One-hot rows stored as sorted distinct word ids per review (CSR), with labels."""

    ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, rows: np.ndarray) -> "Bags":
        """The bags of the given rows, in that order."""
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        lengths = ends - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Bags(ids=self.ids[gather], offsets=offsets, labels=self.labels[rows])


def encode_bags(vocab_ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray, num_features: int) -> Bags:
    """Binary bag of words: each review's distinct vocabulary ids, ascending.

    scipy's CSR canonicalization sorts and merges each row's ids in C, linear in the tokens.
    """
    with phase("imports"):
        import scipy.sparse

    rows = scipy.sparse.csr_matrix((np.ones(len(vocab_ids), dtype=np.int32), vocab_ids, offsets),
                                   shape=(len(labels), num_features))
    rows.sum_duplicates()
    dtype = np.uint16 if num_features <= np.iinfo(np.uint16).max + 1 else np.int32
    return Bags(ids=rows.indices.astype(dtype), offsets=rows.indptr.astype(np.int64), labels=labels)


def encode_split(corpus: TokenizedCorpus, lookup: np.ndarray, split: str) -> Bags:
    """A split's reviews as bags over the vocabulary."""
    vocab_ids = lookup[corpus.ids[split]]
    return encode_bags(vocab_ids, corpus.offsets[split], corpus.labels[split], int(lookup.max()) + 1)


@phase("prepare")
def encode_inputs(corpus: TokenizedCorpus, vocab: list[str], kind: str,
                  rows: dict[str, np.ndarray] | None = None) -> tuple[dict[str, Bags], int]:
    """Every split (or its given rows) in the form `kind` names (a key of registry.INPUTS), and the model's input width."""
    lookup = vocab_lookup(corpus, vocab)
    encode, width = (encode_split, len(vocab) + 1) if kind == "bags" else (encode_sequences, len(vocab) + 2)
    splits = {split: encode(corpus, lookup, split) for split in SPLITS}
    if rows is not None:
        splits = {split: bags.select(rows[split]) for split, bags in splits.items()}
    return splits, width


def _word_counts(words: list[str], counts: np.ndarray, order: np.ndarray) -> list[dict]:
    return [{"word": words[i], "count": int(counts[i])} for i in order]


@phase("prepare")
def data_report(corpus: TokenizedCorpus, vocab: list[str]) -> dict:
    """The course's I.1, I.2 and II.1 numbers for each split, plus the vocabulary's extremes."""
    lookup = vocab_lookup(corpus, vocab)
    report: dict = {}
    for split in SPLITS:
        counts = corpus.counts(split)
        oov = (lookup == OOV) & (counts > 0)
        labels = corpus.labels[split]
        bags = encode_split(corpus, lookup, split)
        report[split] = {
            "reviews": len(labels),
            **{f"reviews_{cls}": int((labels == label).sum()) for label, cls in enumerate(CLASSES)},
            "mean_tokens": round(float(np.diff(corpus.offsets[split]).mean()), 4),
            "distinct_oov_tokens": int(oov.sum()),
            "total_oov_tokens": int(counts[oov].sum()),
            "mean_active_words": round(len(bags.ids) / len(labels), 4),
        }
    train_counts = corpus.counts("train")
    seen = np.argsort(-train_counts, kind="stable")[: int((train_counts > 0).sum())]
    report["vocab"] = {
        "size": len(vocab),
        "distinct_train_words": len(seen),
        "most_frequent": _word_counts(corpus.words, train_counts, seen[:5]),
        "least_frequent": _word_counts(corpus.words, train_counts, seen[::-1][:5]),
    }
    return report


def select_subset(labels: np.ndarray, n: int, balanced: bool, split: str) -> np.ndarray:
    """Rows to keep: all (n=0), the first n (course I.3), or the first n/2 of each class."""
    if n == 0:
        return np.arange(len(labels))
    if not balanced:
        if n > len(labels):
            raise UserError(f"params.yaml: encode_imdb.n={n} exceeds the {len(labels)} {split} reviews")
        return np.arange(n)
    per_class = [np.flatnonzero(labels == label) for label in range(len(CLASSES))]
    available = min(len(rows) for rows in per_class)
    if n // 2 > available:
        raise UserError(f"params.yaml: encode_imdb.n={n} needs {n // 2} {split} reviews per class, only {available} exist")
    return np.sort(np.concatenate([rows[: n // 2] for rows in per_class]))


def _bag_arrays(splits: dict[str, Bags], num_features: int) -> dict[str, np.ndarray]:
    arrays = {"num_features": np.array(num_features)}
    for split, bags in splits.items():
        arrays.update({f"{split}_ids": bags.ids, f"{split}_offsets": bags.offsets, f"{split}_labels": bags.labels})
    return arrays


def save_bags(splits: dict[str, Bags], num_features: int, dest: str | os.PathLike) -> None:
    """Write every split's bags to one .npz, atomically."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            np.savez(out, **_bag_arrays(splits, num_features))


def save_inputs(inputs: dict[str, tuple[dict[str, Bags], int]], dest: str | os.PathLike) -> None:
    """Folder dest with one .npz per model name, as save_bags writes them; atomically as a whole."""
    with atomic_path(dest, directory=True) as tmp:
        for model, (splits, num_features) in inputs.items():
            with open(tmp / imdb_inputs(model).name, "wb") as out:
                np.savez(out, **_bag_arrays(splits, num_features))


@phase("load")
def load_bags(src: str | os.PathLike) -> tuple[dict[str, Bags], int]:
    """Read the file written by save_bags: bags per split and the one-hot width, each split checked whole."""
    try:
        with np.load(src) as arrays:
            splits = {
                split: Bags(ids=arrays[f"{split}_ids"], offsets=arrays[f"{split}_offsets"], labels=arrays[f"{split}_labels"])
                for split in SPLITS
            }
            num_features = int(arrays["num_features"])
    except READ_ERRORS as err:
        raise UserError(f"{src}: unreadable encoded dataset ({err}); rerun 'dvc repro -f encode_imdb'") from None
    for split, bags in splits.items():
        problem = _bags_problem(bags, num_features)
        if problem:
            raise UserError(f"{src}: corrupt encoded dataset ({split}: {problem}); rerun 'dvc repro -f encode_imdb'")
    return splits, num_features


def _bags_problem(bags: Bags, num_features: int) -> str | None:
    """What is wrong with one split's bags, if anything: ids, offsets and labels that do not fit together."""
    offsets = bags.offsets.astype(np.int64)
    if len(offsets) != len(bags.labels) + 1 or offsets[0] != 0 or offsets[-1] != len(bags.ids) \
            or np.any(np.diff(offsets) < 0):
        return "offsets do not split the ids into one bag per label"
    largest = int(bags.ids.max()) if len(bags.ids) else -1
    if largest >= num_features:
        return f"word id {largest} in a one-hot width of {num_features}"
    if np.any((bags.labels != 0) & (bags.labels != 1)):
        return "labels other than 0 and 1"
    return None


PAD, UNK = 0, 1  # sequence ids (course 003): <PAD> = 0, <UNK> = 1, vocabulary words from 2


def encode_sequences(corpus: TokenizedCorpus, lookup: np.ndarray, split: str) -> Bags:
    """A split's reviews as token-id sequences in reading order (stored like bags: CSR ids + offsets)."""
    vocab_ids = lookup[corpus.ids[split]]
    ids = np.where(vocab_ids == OOV, UNK, vocab_ids + 1)
    dtype = np.uint16 if ids.max(initial=0) <= np.iinfo(np.uint16).max else np.int32
    return Bags(ids=ids.astype(dtype), offsets=corpus.offsets[split].astype(np.int64), labels=corpus.labels[split])
