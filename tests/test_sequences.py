"""Course 003's text model: <PAD>/<UNK> sequences, bucketed padded batches, masked mean of embeddings."""

import numpy as np
import torch

from reprolab.core.device import seed_everything
from reprolab.core.engines import fit
from reprolab.core.train import loss_function
from reprolab.imdb.batches import SequenceBatches
from reprolab.imdb.data import PAD, UNK, Bags, TokenizedCorpus, encode_sequences
from reprolab.imdb.models import EmbeddingMean, imdb_model
from test_models import train_params


def random_sequences(rows: int, seed: int = 0, vocab: int = 30) -> Bags:
    """Token sequences of varied length; positives contain token 2 somewhere, negatives token 3."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows).astype(np.uint8)
    sequences = [np.append(rng.integers(4, vocab, rng.integers(0, 40)), 2 if label else 3) for label in labels]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sequences])])
    return Bags(ids=np.concatenate(sequences).astype(np.uint16), offsets=offsets, labels=labels)


def test_encode_sequences_keeps_order_and_maps_oov_to_unk():
    corpus = TokenizedCorpus(words=["a", "b", "c"], ids={"train": np.array([2, 0, 1, 2])},
                             offsets={"train": np.array([0, 3, 4])}, labels={"train": np.array([1, 0])})
    lookup = np.array([1, 0, 2])  # word "b" is out of vocabulary
    sequences = encode_sequences(corpus, lookup, "train")
    assert sequences.ids.tolist() == [3, 2, UNK, 3] and sequences.offsets.tolist() == [0, 3, 4]


def test_sequence_batches_cover_every_review_with_little_padding():
    sequences = random_sequences(300)
    batches = SequenceBatches(sequences, 16, torch.device("cpu"), shuffle=True,
                              generator=torch.Generator().manual_seed(0), pool_batches=5)
    seen, padded_cells, real_cells = [], 0, 0
    for ids, lengths, labels in batches:
        assert ids.shape == (len(labels), int(lengths.max()))
        for row, length in zip(ids, lengths.tolist(), strict=True):
            assert (row[length:] == PAD).all() and (row[:length] != PAD).all()
        seen += labels.tolist()
        padded_cells, real_cells = padded_cells + ids.numel(), real_cells + int(lengths.sum())
    assert sorted(seen) == sorted(sequences.labels.tolist()) and len(seen) == len(batches) * 16 - 4
    assert padded_cells < 1.3 * real_cells  # bucketing: far less padding than padding every batch at random
    again = [labels for _, _, labels in SequenceBatches(sequences, 16, torch.device("cpu"), shuffle=True,
                                                        generator=torch.Generator().manual_seed(0), pool_batches=5)]
    assert torch.equal(torch.cat(again), torch.tensor(seen))


def test_masked_mean_ignores_padding():
    torch.manual_seed(0)
    model = EmbeddingMean(10, 4, "ce")
    ids, lengths = torch.tensor([[5, 6, 7]]), torch.tensor([3])
    padded = torch.tensor([[5, 6, 7, PAD, PAD]])
    torch.testing.assert_close(model(ids, lengths), model(padded, lengths))
    expected = model.out(model.embedding.weight[[5, 6, 7]].mean(0, keepdim=True))
    torch.testing.assert_close(model(ids, lengths), expected)
    assert imdb_model({"num_features": 10, "hidden": 4, "head": "bce", "model": "embedding_mean"}).out.out_features == 1


def test_embedding_mean_learns():
    generator = seed_everything(0, deterministic=True)
    model = EmbeddingMean(30, 16, "bce")
    train = SequenceBatches(random_sequences(512), 32, torch.device("cpu"), shuffle=True, generator=generator)
    test = SequenceBatches(random_sequences(256, seed=1), 64, torch.device("cpu"))
    criterion = loss_function("bce")
    results = list(fit(model, train, test, train_params(lr=0.05, epochs=8), criterion, criterion))
    assert results[-1].test.accuracy > 0.9
