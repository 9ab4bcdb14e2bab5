"""benchmarks/gpu.py's measurements, run here on CPU: the GPU machine is lent rarely, so its script must not fail there.

Capture needs CUDA (the -m gpu tests run these on a GPU); here the graph runs are eager and the plain loop steps eagerly.
"""

import math

import torch

from reprolab.speed import gpu
from test_models import NUM_FEATURES, random_bags, train_params


def learnable_images(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose brightness is their class, so a few steps learn them."""
    labels = torch.arange(count) % 10
    noise = torch.randn(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    return noise * 0.1 + labels.view(-1, 1, 1, 1) / 10, labels


def image_data() -> dict[str, torch.Tensor]:
    (train_images, train_labels), (test_images, test_labels) = learnable_images(640, 0), learnable_images(200, 1)
    return {"train_images": train_images, "train_labels": train_labels, "test_images": test_images,
            "test_labels": test_labels}


def test_plain_loop_trains_as_the_engine_does():
    """On CPU, with full batches only, the yardstick's steps are the eager engine's: the same model comes out."""
    params = train_params(section="train_images", batch_size=64, epochs=3, lr=1e-3)
    seconds, accuracy = gpu.plain_image_epochs(image_data(), params, torch.device("cpu"))
    engine = gpu.image_epochs(image_data(), params, torch.device("cpu"), "eager")
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert accuracy == engine[-1].test.accuracy > 0.2  # chance is 0.1


def test_plain_loop_steps_are_full_batches_of_distinct_rows(monkeypatch):
    seen = []

    class Recording(gpu.SimpleCNN):
        def forward(self, images):
            seen.append(images[:, 0, 0, 0].tolist())
            return super().forward(images)

    monkeypatch.setattr(gpu, "SimpleCNN", Recording)
    images = image_data()
    images["train_images"] = torch.arange(150.0).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()
    images["train_labels"] = torch.arange(150) % 10
    gpu.plain_image_epochs(images, train_params(section="train_images", batch_size=64, epochs=1), torch.device("cpu"))
    *steps, evaluation = seen
    rows = [int(row) for step in steps for row in step]
    assert [len(step) for step in steps] == [64, 64] and len(set(rows)) == 128 and set(rows) <= set(range(150))
    assert len(evaluation) == 200


def test_batch_one_step_is_one_review_per_step(monkeypatch):
    seen = []
    real = gpu.our_imdb_epochs

    def spy(bags, num_features, params, device, engine):
        seen.append((len(bags["train"]), len(bags["test"]), params.batch_size, params.epochs, engine))
        return real(bags, num_features, params, device, engine)

    monkeypatch.setattr(gpu, "our_imdb_epochs", spy)
    bags = {"train": random_bags(90), "test": random_bags(40, seed=1)}
    base = train_params(optimizer="sgd", batch_size=128, epochs=5)
    seconds = gpu.batch_one_step_seconds(bags, NUM_FEATURES, base, torch.device("cpu"), "eager", reviews=30)
    assert seen == [(30, 30, 1, 2, "eager")] and seconds > 0


def test_every_gpu_figure_reaches_the_table(monkeypatch):
    """gpu_benchmark end to end on CPU, its graph runs made eager: each figure it measures is a row of gpu_table."""
    real_run, real_fit = gpu.imdb_run, gpu.fit
    monkeypatch.setattr(gpu, "imdb_run", lambda params, *args: real_run(params.model_copy(update={"engine": "eager"}), *args))
    monkeypatch.setattr(gpu, "fit", lambda *args, **kwargs: real_fit(*args[:6], "eager", **kwargs))
    monkeypatch.setattr(gpu.torch.cuda, "get_device_name", lambda device: "a CPU")
    monkeypatch.setattr(gpu, "nondeterministic_kernels", lambda: None)
    bags = {"train": random_bags(96), "test": random_bags(40, seed=1)}
    imdb = train_params(batch_size=32, epochs=2)
    small = train_params(optimizer="sgd", batch_size=128)
    image = train_params(section="train_images", batch_size=64, epochs=2, lr=1e-2)
    results = gpu.gpu_benchmark(bags, NUM_FEATURES, image_data(), imdb, small, image, torch.device("cpu"))
    table = gpu.gpu_table(results)
    figures = [row.split(" | ")[1] for row in table.splitlines()[4:]]
    assert len(figures) == 12 and all(figure.split()[0].replace(".", "").isdigit() for figure in figures)
    per_1000 = results["images"]["seconds_per_1000_images"]
    assert set(per_1000) == {"eager", "graph", "plain", "graph_nondeterministic", "plain_nondeterministic"}
    assert all(len(values) == 2 and all(map(math.isfinite, values)) for values in per_1000.values())
    assert set(results["imdb"]["batch_1_step_seconds"]) == {"graph", "eager"}
