"""Stage encode_imdb: each review as its one-hot row (a bag of distinct word ids) or its token sequence, per model."""

from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.params import load_params
from reprolab.core.paths import IMDB_INPUTS, TOKENS, VOCAB
from reprolab.core.registry import IMDB_MODELS
from reprolab.imdb.data import SPLITS, encode_inputs, load_corpus, load_vocab, save_inputs, select_subset


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("encode_imdb")
    corpus = load_corpus(TOKENS)
    subset = params.encode_imdb
    rows = {split: select_subset(corpus.labels[split], subset.n, subset.balanced, split) for split in SPLITS}
    vocab = load_vocab(VOCAB, corpus)
    encoded = {kind: encode_inputs(corpus, vocab, kind, rows) for kind in {spec.inputs for spec in IMDB_MODELS.values()}}
    save_inputs({model: encoded[spec.inputs] for model, spec in IMDB_MODELS.items()}, IMDB_INPUTS)
    for split, bags in encoded["bags"][0].items():
        print(f"{split}: {len(bags)} reviews ({int(bags.labels.sum())} positive), {len(bags.ids) / len(bags):.1f} active words each")


if __name__ == "__main__":
    run_stage(main)
