"""Stage tokenize_imdb: read the archive once and tokenize both splits into word ids."""

from reprolab.cli import parse_stage_args, run_stage
from reprolab.imdb import read_archive, save_corpus, tokenize_reviews
from reprolab.params import load_imdb_params

ARCHIVE = "data/raw/aclImdb_v1.tar.gz"
TOKENS = "data/imdb/tokens"


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_imdb_params()
    corpus = tokenize_reviews(read_archive(ARCHIVE), params.vocab.tokenizer)
    save_corpus(corpus, TOKENS)
    print(f"{params.vocab.tokenizer} tokenizer: {len(corpus.words)} distinct tokens in train + test")


if __name__ == "__main__":
    run_stage(main)
