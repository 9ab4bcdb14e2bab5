from collections import Counter

import numpy as np
import pytest

from conftest import REVIEWS, write_imdb_archive
from reprolab.core.errors import UserError
from reprolab.imdb import data as imdb


@pytest.fixture
def corpus(imdb_archive):
    return imdb.tokenize_reviews(imdb.read_archive(imdb_archive), "split", workers=1)


def test_read_archive_orders_positives_first_by_id(imdb_archive):
    reviews = imdb.read_archive(imdb_archive)
    assert reviews["train"].texts[0] == REVIEWS[("train", "pos", 0, 9)]
    assert reviews["train"].labels.tolist() == [1, 1, 1, 0, 0, 0]
    assert reviews["test"].texts == ["great cast", "Loved it", "boring and bad", "unseen words only"]


def test_read_archive_ignores_other_members(tmp_path):
    extra = {"aclImdb/train/unsup/0_0.txt": "unlabelled", "aclImdb/imdb.vocab": "the\n"}
    path = write_imdb_archive(tmp_path / "a.tar.gz", extra=extra)
    assert len(imdb.read_archive(path)["train"].texts) == 6


def test_truncated_archive(tmp_path, imdb_archive):
    data = imdb_archive.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated.tar.gz: not a readable IMDB .tar.gz archive"):
        imdb.read_archive(truncated)
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not a tarball at all")
    with pytest.raises(UserError, match="garbage.tar.gz: not a readable IMDB"):
        imdb.read_archive(garbage)


def test_archive_missing_a_class(tmp_path):
    reviews = {key: text for key, text in REVIEWS.items() if key[:2] != ("test", "neg")}
    with pytest.raises(UserError, match="no reviews under aclImdb/test/neg/"):
        imdb.read_archive(write_imdb_archive(tmp_path / "a.tar.gz", reviews))


def test_tokenizers():
    assert imdb.tokenize_split("I like, Pizza.") == ["I", "like,", "Pizza."]
    assert imdb.tokenize_normalized("I like, Pizza. <br />It's GREAT!") == ["i", "like", "pizza", "br", "its", "great"]


def test_corpus_round_trip_and_worker_independence(tmp_path, imdb_archive, corpus):
    reviews = imdb.read_archive(imdb_archive)
    parallel = imdb.tokenize_reviews(reviews, "split", workers=2)
    assert parallel.words == corpus.words
    imdb.save_corpus(corpus, tmp_path / "tokens")
    loaded = imdb.load_corpus(tmp_path / "tokens")
    assert loaded.words == corpus.words
    for split in imdb.SPLITS:
        text_tokens = [t for text in reviews[split].texts for t in text.split()]
        assert [loaded.words[i] for i in loaded.ids[split]] == text_tokens
        assert np.array_equal(loaded.offsets[split], corpus.offsets[split])


def test_vocab_matches_the_seeds_sort(imdb_archive, corpus):
    counter = Counter()
    for text in imdb.read_archive(imdb_archive)["train"].texts:
        counter.update(text.split())
    seed_vocab = sorted(counter, key=counter.get, reverse=True)[:5]
    assert imdb.build_vocab(corpus, 5) == seed_vocab
    assert imdb.build_vocab(corpus, 1000) == sorted(counter, key=counter.get, reverse=True)


def test_data_report_matches_naive_counts(imdb_archive, corpus):
    vocab = imdb.build_vocab(corpus, 4)
    report = imdb.data_report(corpus, vocab)
    texts = imdb.read_archive(imdb_archive)["train"].texts
    tokens = [t for text in texts for t in text.split()]
    oov = [t for t in tokens if t not in vocab]
    assert report["train"]["reviews"] == 6 and report["train"]["reviews_pos"] == 3
    assert report["train"]["mean_tokens"] == round(len(tokens) / 6, 4)
    assert report["train"]["distinct_oov_tokens"] == len(set(oov))
    assert report["train"]["total_oov_tokens"] == len(oov)
    active = [len({vocab.index(t) + 1 if t in vocab else 0 for t in text.split()}) for text in texts]
    assert report["train"]["mean_active_words"] == round(sum(active) / 6, 4)
    counter = Counter(tokens)
    assert report["vocab"]["most_frequent"][0] == {"word": counter.most_common(1)[0][0], "count": counter.most_common(1)[0][1]}
    assert [w["word"] for w in report["vocab"]["least_frequent"]] == [w for w, _ in counter.most_common()[:-6:-1]]


def test_bags_are_the_one_hot_rows(imdb_archive, corpus):
    vocab = imdb.build_vocab(corpus, 6)
    bags = imdb.encode_split(corpus, imdb.vocab_lookup(corpus, vocab), "train")
    for row, text in enumerate(imdb.read_archive(imdb_archive)["train"].texts):
        one_hot = np.zeros(len(vocab) + 1)
        one_hot[[vocab.index(t) + 1 if t in vocab else 0 for t in text.split()]] = 1
        start, end = bags.offsets[row], bags.offsets[row + 1]
        assert bags.ids[start:end].tolist() == np.flatnonzero(one_hot).tolist()


def test_encode_bags_dedupes_sorts_and_keeps_empty_rows():
    offsets = np.array([0, 3, 3, 5])
    ids = np.array([2, 2, 0, 1, 1])
    bags = imdb.encode_bags(ids, offsets, np.array([1, 0, 1], dtype=np.uint8), num_features=3)
    assert bags.ids.tolist() == [0, 2, 1] and bags.offsets.tolist() == [0, 2, 2, 3]
    assert bags.select(np.array([2, 0])).ids.tolist() == [1, 0, 2]


def test_select_subset():
    labels = np.array([1, 1, 1, 1, 0, 0, 0], dtype=np.uint8)
    assert imdb.select_subset(labels, 0, False, "train").tolist() == list(range(7))
    assert imdb.select_subset(labels, 3, False, "train").tolist() == [0, 1, 2]
    assert imdb.select_subset(labels, 4, True, "train").tolist() == [0, 1, 4, 5]
    with pytest.raises(UserError, match="encode_imdb.n=8 exceeds the 7 train reviews"):
        imdb.select_subset(labels, 8, False, "train")
    with pytest.raises(UserError, match="needs 4 test reviews per class, only 3 exist"):
        imdb.select_subset(labels, 8, True, "test")


def test_bags_file_round_trip_and_corruption(tmp_path, corpus):
    lookup = imdb.vocab_lookup(corpus, imdb.build_vocab(corpus, 6))
    splits = {split: imdb.encode_split(corpus, lookup, split) for split in imdb.SPLITS}
    imdb.save_bags(splits, 7, tmp_path / "encoded.npz")
    loaded, num_features = imdb.load_bags(tmp_path / "encoded.npz")
    assert num_features == 7 and np.array_equal(loaded["test"].ids, splits["test"].ids)
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(UserError, match="bad.npz: unreadable encoded dataset"):
        imdb.load_bags(tmp_path / "bad.npz")
