"""Stage encode_imdb: each review as its one-hot row (a bag of distinct word ids) or its token sequence, per model."""

from reprolab.cli import parse_stage_args, run_stage
from reprolab.imdb import INPUTS, SPLITS, encode_inputs, load_corpus, load_vocab, save_inputs, select_subset
from reprolab.params import load_imdb_params
from reprolab.registry import declared_imdb_models

TOKENS = "data/imdb/tokens"
VOCAB = "data/imdb/vocab.json"


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_imdb_params()
    corpus = load_corpus(TOKENS)
    rows = {split: select_subset(corpus.labels[split], params.subset.n, params.subset.balanced, split) for split in SPLITS}
    vocab = load_vocab(VOCAB)
    models = declared_imdb_models()
    encoded = {kind: encode_inputs(corpus, vocab, kind, rows) for kind in {spec.inputs for spec in models.values()}}
    save_inputs({model: encoded[spec.inputs] for model, spec in models.items()}, INPUTS)
    for split, bags in encoded["bags"][0].items():
        print(f"{split}: {len(bags)} reviews ({int(bags.labels.sum())} positive), {len(bags.ids) / len(bags):.1f} active words each")


if __name__ == "__main__":
    run_stage(main)
