"""Stage encode_imdb: each review as its one-hot row (a bag of distinct word ids) and as its token sequence."""

import json

from reprolab.cli import run_stage
from reprolab.imdb import SPLITS, encode_sequences, encode_split, load_corpus, save_bags, select_subset, vocab_lookup
from reprolab.params import load_imdb_params

TOKENS = "data/imdb/tokens"
VOCAB = "data/imdb/vocab.json"
ENCODED = "data/imdb/encoded.npz"
SEQUENCES = "data/imdb/sequences.npz"


def main() -> None:
    params = load_imdb_params()
    corpus = load_corpus(TOKENS)
    rows = {split: select_subset(corpus.labels[split], params.subset.n, params.subset.balanced, split) for split in SPLITS}
    with open(VOCAB) as file:
        vocab = json.load(file)["words"]
    lookup = vocab_lookup(corpus, vocab)
    encoded = {split: encode_split(corpus, lookup, split).select(rows[split]) for split in SPLITS}
    sequences = {split: encode_sequences(corpus, lookup, split).select(rows[split]) for split in SPLITS}
    save_bags(encoded, len(vocab) + 1, ENCODED)
    save_bags(sequences, len(vocab) + 2, SEQUENCES)
    for split, bags in encoded.items():
        print(f"{split}: {len(bags)} reviews ({int(bags.labels.sum())} positive), {len(bags.ids) / len(bags):.1f} active words each")


if __name__ == "__main__":
    run_stage(main)
