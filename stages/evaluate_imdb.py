"""Stage evaluate_imdb: accuracy, perplexity, per-class report and confusion matrix on test."""

from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.device import resolve_device
from reprolab.core.params import load_params
from reprolab.core.paths import EVALUATE_IMDB, IMDB_MODEL, imdb_inputs
from reprolab.core.record import evaluate_and_record, load_model
from reprolab.core.train import loss_function
from reprolab.imdb.data import CLASSES, load_bags
from reprolab.imdb.models import imdb_batches, imdb_model


def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("train_imdb", "evaluate_imdb")
    device = resolve_device(params.train_imdb.device, "train_imdb.device")
    name = params.train_imdb.model  # the data dvc.yaml gives this stage: what that model reads
    data, num_features = load_bags(imdb_inputs(name))
    # built for the data's width, so a checkpoint of another vocabulary size says which size differs
    model, config = load_model(IMDB_MODEL, lambda config: imdb_model({**config, "num_features": num_features}),
                               device, "train_imdb")
    test_batches = imdb_batches(name, data["test"], params.evaluate_imdb.batch_size, device)
    result = evaluate_and_record(model, test_batches, loss_function(config["head"]), list(CLASSES), EVALUATE_IMDB,
                                 params.train_imdb.precision, f"IMDB, {name} model")
    print(f"test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}, perplexity {result.perplexity:.4f}")


if __name__ == "__main__":
    run_stage(main)
