"""Stage build_vocab: the imdb.vocab_size most frequent train words, and the data report."""

from reprolab.atomic import write_json
from reprolab.cli import run_stage
from reprolab.imdb import OOV, build_vocab, data_report, load_corpus
from reprolab.params import load_imdb_params

TOKENS = "data/imdb/tokens"
VOCAB = "data/imdb/vocab.json"
REPORT = "metrics/imdb_data.json"


def main() -> None:
    params = load_imdb_params()
    corpus = load_corpus(TOKENS)
    vocab = build_vocab(corpus, params.vocab.vocab_size)
    write_json(VOCAB, {"tokenizer": params.vocab.tokenizer, "oov_index": OOV, "words": vocab})
    report = data_report(corpus, vocab)
    write_json(REPORT, report)
    train = report["train"]
    print(f"vocabulary {len(vocab)} words; train: {train['reviews']} reviews, "
          f"{train['mean_tokens']} tokens each on average, {train['distinct_oov_tokens']} distinct OOV tokens")


if __name__ == "__main__":
    run_stage(main)
