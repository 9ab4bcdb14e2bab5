"""Stage build_vocab: the imdb.vocab_size most frequent train words, and the data report."""

from reprolab.core.atomic import write_json
from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.params import load_params
from reprolab.core.paths import IMDB_DATA, TOKENS, VOCAB
from reprolab.imdb.data import build_vocab, data_report, load_corpus, save_vocab



def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("imdb")
    corpus = load_corpus(TOKENS)
    vocab = build_vocab(corpus, params.imdb.vocab_size)
    report = data_report(corpus, vocab)
    save_vocab(vocab, params.imdb.tokenizer, VOCAB)
    write_json(IMDB_DATA, report)
    train = report["train"]
    print(f"vocabulary {len(vocab)} words; train: {train['reviews']} reviews, "
          f"{train['mean_tokens']} tokens each on average, {train['distinct_oov_tokens']} distinct OOV tokens")


if __name__ == "__main__":
    run_stage(main)
