"""Stage tokenize_imdb: read the archive once and tokenize both splits into word ids."""

from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.params import load_params
from reprolab.core.paths import ARCHIVE, TOKENS
from reprolab.imdb.data import read_archive, save_corpus, tokenize_reviews



def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("imdb")
    corpus = tokenize_reviews(read_archive(ARCHIVE), params.imdb.tokenizer)
    save_corpus(corpus, TOKENS)
    print(f"{params.imdb.tokenizer} tokenizer: {len(corpus.words)} distinct tokens in train + test")


if __name__ == "__main__":
    run_stage(main)
