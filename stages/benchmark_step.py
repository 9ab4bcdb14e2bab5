"""Stage benchmark_step: per-batch data / host->device / forward / backward+step times, the course's paths beside ours."""

import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from reprolab.core.atomic import atomic_path, csv_text, json_text
from reprolab.core.batches import TensorBatches
from reprolab.core.clock import phase
from reprolab.core.cli import parse_stage_args, run_stage, stage_choice
from reprolab.core.device import device_info, resolve_device
from reprolab.core.params import ImageData, TrainingRun, load_params
from reprolab.core.paths import images_file, imdb_inputs, kept_file, timings
from reprolab.core.report import markdown_table, save_figure, stacked_phases_figure
from reprolab.core.train import loss_function
from reprolab.images.data import load_images, load_kept, normalized
from reprolab.images.models import SimpleCNN
from reprolab.imdb.batches import BagBatches
from reprolab.imdb.data import load_bags
from reprolab.imdb.models import OneHotMLP
from reprolab.speed.course import CourseCachedOneHot, CourseOneHotMLP, CourseSimpleCNN, course_image_loader
from reprolab.speed.measure import PHASES, autograd_forward, step_breakdown, training_forward

OUT = timings("benchmark_step")
IMDB_BATCH, IMAGE_BATCH, LR = 128, 64, 0.01  # the course's
# the course's setups as training sections: our rows step as training would with them
IMDB_SGD = TrainingRun(optimizer="sgd", lr=LR, momentum=0.0, weight_decay=0.0, batch_size=IMDB_BATCH, epochs=1, seed=0,
                       grad_clip=0.0, device="auto", engine="eager", deterministic=True, precision="fp32")
IMAGES_ADAM = IMDB_SGD.model_copy(update={"optimizer": "adam", "lr": 1e-3, "batch_size": IMAGE_BATCH})


def moved(device: torch.device):
    return lambda batch: tuple(t.to(device, non_blocking=True) for t in batch)


@phase("measure")
def imdb_variants(device: torch.device, limit: int) -> dict[str, dict[str, float]]:
    """The course's cached dense rows + DataLoader + nn.Linear, our dense one-hot model, our EmbeddingBag path (SGD).

    Each of ours steps as training does: the dense model by autograd and torch.optim.SGD, the EmbeddingBag model
    (sparse gradients) by its own plain-SGD step.
    """
    bags, num_features = load_bags(imdb_inputs("embedding_bag"))
    bce = loss_function("bce")
    torch.manual_seed(0)
    course_model = CourseOneHotMLP(num_features - 1).to(device)
    seed_rows = CourseCachedOneHot(bags["train"].select(torch.randperm(len(bags["train"]))[: (limit + 3) * IMDB_BATCH].numpy()),
                                 num_features)
    seed_loader = DataLoader(seed_rows, batch_size=IMDB_BATCH, shuffle=True, pin_memory=device.type == "cuda")
    results = {"seed: cached dense rows, DataLoader, nn.Linear": step_breakdown(
        seed_loader, moved(device), autograd_forward(lambda b: bce(course_model(b[0]), b[1]),
                                                     torch.optim.SGD(course_model.parameters(), lr=LR)), device, limit)}
    dense = OneHotMLP(num_features, 200, "bce", "dense").to(device)
    bag = OneHotMLP(num_features, 200, "bce", "embedding_bag", sparse=True).to(device)
    for name, model in (("reprolab dense one-hot (model: dense)", dense),
                        ("reprolab EmbeddingBag, sparse grads, its own SGD step (model: embedding_bag)", bag)):
        batches = BagBatches(bags["train"], IMDB_BATCH, device, shuffle=True, generator=torch.Generator().manual_seed(0))
        results[name] = step_breakdown(batches, lambda b: b, training_forward(model, bce, IMDB_SGD), device, limit)
    return results


@phase("measure")
def image_variants(dataset: str, source: ImageData, device: torch.device, limit: int) -> dict[str, dict[str, float]]:
    """The course's per-sample transform loop with its SimpleCNN, and TensorBatches with ours (Adam)."""
    arrays = load_images(images_file(dataset))
    rows = load_kept(kept_file(dataset))
    ce = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    course_model = CourseSimpleCNN().to(device)
    with tempfile.TemporaryDirectory() as root:
        loader = course_image_loader(arrays, rows, dataset, Path(root), source.mean, source.std, IMAGE_BATCH)
        results = {"seed: per-sample ToTensor/Normalize, DataLoader, SimpleCNN": step_breakdown(
            loader, moved(device), autograd_forward(lambda b: ce(course_model(b[0]), b[1]),
                                                    torch.optim.Adam(course_model.parameters(), lr=1e-3)), device, limit)}
    model = SimpleCNN().to(device)
    batches = TensorBatches(normalized(arrays["train_images"][rows], source.mean, source.std), arrays["train_labels"][rows],
                            IMAGE_BATCH, device, shuffle=True, generator=torch.Generator().manual_seed(0))
    results["reprolab TensorBatches, SimpleCNN, fused Adam"] = step_breakdown(
        batches, lambda b: b, training_forward(model, loss_function("ce"), IMAGES_ADAM), device, limit)
    return results


def main() -> None:
    parse_stage_args(__file__, __doc__)
    loaded = load_params("data", "images", "benchmark_step")
    params = loaded.benchmark_step
    source = getattr(loaded.data, stage_choice(params.dataset, loaded.images.datasets,
                                               "benchmark_step.dataset (one of images.datasets)"))
    device = resolve_device(params.device, "benchmark_step.device")
    tracks = {"imdb": imdb_variants(device, params.batches),
              "images": image_variants(params.dataset, source, device, params.batches)}
    rows, csvs = [], {}
    for track, results in tracks.items():
        csv_rows = []
        for variant, phases in results.items():
            total = sum(phases.values())
            rows.append([track, variant, *(round(phases[p], 3) for p in PHASES), round(total, 3)])
            csv_rows.append([variant, *(f"{phases[p]:.4f}" for p in PHASES), f"{total:.4f}"])
            print(f"{track:6s} {variant:60s} " + " ".join(f"{p} {phases[p]:7.3f}" for p in PHASES) + f"  total {total:7.3f} ms/batch")
        csvs[track] = csv_text(["variant", *PHASES, "total"], csv_rows)
    figure = stacked_phases_figure({f"{r[0]}: {r[1]}": dict(zip(PHASES, r[2:6], strict=True)) for r in rows},
                                   f"milliseconds per batch on {device.type}")
    with atomic_path(OUT, directory=True) as out:
        for track, text in csvs.items():
            (out / f"{track}.csv").write_text(text)
        (out / "table.md").write_text(markdown_table(["track", "variant", *(f"{p} ms" for p in PHASES), "total ms"], rows, digits=3))
        (out / "results.json").write_text(json_text({**device_info(device), "batches_measured": params.batches,
                                                     "ms_per_batch": tracks}, out / "results.json"))
        save_figure(figure, out / "step.png")


if __name__ == "__main__":
    run_stage(main)
