"""Stage overfit_imdb: course VI.4, a small training set and many epochs; train vs test perplexity per epoch."""

from reprolab.core.atomic import atomic_path, csv_text, ensure_writable, json_text
from reprolab.core.cli import parse_stage_args, run_stage
from reprolab.core.device import resolve_device
from reprolab.core.params import load_params
from reprolab.core.paths import OVERFIT, imdb_inputs
from reprolab.core.report import markdown_table, overfit_figure, save_figure
from reprolab.imdb.data import load_bags
from reprolab.imdb.sweeps import point_metrics, subset_bags, train_point, turn_up_epoch



def main() -> None:
    parse_stage_args(__file__, __doc__)
    params = load_params("evaluate_imdb", "sweeps")
    schedule = params.sweeps.overfit.model_dump(exclude={"reviews"})  # sweeps.base, trained on fewer reviews for longer
    train = params.sweeps.base.model_copy(update=schedule).named("sweeps.base", **{
        key: f"sweeps.overfit.{key}" for key in schedule})
    reviews = params.sweeps.overfit.reviews
    device = resolve_device(train.device, "sweeps.base.device")
    ensure_writable(OVERFIT / "metrics.json")
    bags, num_features = load_bags(imdb_inputs(train.model))
    bags = {"train": subset_bags(bags, "balanced", reviews)["train"], "test": bags["test"]}
    first_loss, epochs = train_point(train, bags, num_features, device, params.evaluate_imdb.batch_size)
    result = point_metrics("overfit", reviews, first_loss, epochs, bags)
    test_ppl = [e["test_perplexity"] for e in result["epochs"]]
    turn = turn_up_epoch(test_ppl)
    summary = {"train_reviews": reviews, "epochs": train.epochs,
               "lowest_test_perplexity": min(test_ppl), "lowest_test_perplexity_epoch": test_ppl.index(min(test_ppl)) + 1,
               "test_perplexity_turns_up_at_epoch": turn, "final_train_perplexity": result["epochs"][-1]["train_perplexity"],
               "final_test_perplexity": test_ppl[-1], "final_test_accuracy": result["test_accuracy"]}
    title = f"{reviews} training reviews, {train.optimizer} lr {train.lr}, batch {train.batch_size}"
    figure = overfit_figure([e["train_perplexity"] for e in result["epochs"]], test_ppl, turn, title)
    rows = [[e["epoch"], e["train_perplexity"], e["test_perplexity"], e["test_accuracy"]] for e in result["epochs"]]
    with atomic_path(OVERFIT, directory=True) as out:
        (out / "metrics.json").write_text(json_text(summary, out / "metrics.json"))
        (out / "table.md").write_text(
            f"### Overfitting: {title}\n\nTest perplexity is lowest at epoch {summary['lowest_test_perplexity_epoch']} "
            f"and turns up at epoch {turn}, while training perplexity keeps falling.\n\n"
            + markdown_table(["epoch", "train perplexity", "test perplexity", "test accuracy"], rows))
        for split in ("train", "test"):
            (out / f"{split}_perplexity.csv").write_text(csv_text(["epoch", "perplexity"], (
                (e["epoch"], e[f"{split}_perplexity"]) for e in result["epochs"])))
        save_figure(figure, out / "overfit.png")
    print(f"test perplexity lowest at epoch {summary['lowest_test_perplexity_epoch']}, turns up at epoch {turn}")


if __name__ == "__main__":
    run_stage(main)
