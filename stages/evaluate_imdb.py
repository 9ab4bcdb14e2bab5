"""Stage evaluate_imdb: accuracy, perplexity, per-class report and confusion matrix on test."""

from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.device import resolve_device
from reprolab.core.params import load_imdb_params
from reprolab.core.paths import EVALUATE_IMDB, IMDB_MODEL, imdb_inputs
from reprolab.core.record import evaluate_and_record, load_checkpoint
from reprolab.core.train import loss_function
from reprolab.imdb.data import CLASSES, load_bags
from reprolab.imdb.models import imdb_batches, imdb_model



def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_imdb_params()
    device = resolve_device(params.train.device, "train_imdb.device")
    config, state = load_checkpoint(IMDB_MODEL, device)
    model = imdb_model(config).to(device)
    model.load_state_dict(state)
    data, _ = load_bags(imdb_inputs(config["model"]))
    test_batches = imdb_batches(config["model"], data["test"], params.evaluate.batch_size, device)
    result = evaluate_and_record(model, test_batches, loss_function(config["head"]), list(CLASSES), EVALUATE_IMDB,
                                 params.train.precision, f"IMDB, {config['model']} model")
    print(f"test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}, perplexity {result.perplexity:.4f}")


if __name__ == "__main__":
    run_stage(main)
