"""One IMDB training run, built the same way for train_imdb, every sweep point and the overfitting run."""

import torch

from reprolab.core.device import seed_everything
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.engines import resolve_engine
from reprolab.core.params import ImdbRun
from reprolab.core.train import (Run, bags_bytes, build_model, loss_function, require_batch_fits,
                                 require_device_memory)
from reprolab.imdb.data import Bags
from reprolab.imdb.models import imdb_batches, imdb_config, imdb_graphable, imdb_model


def imdb_run(params: ImdbRun, bags: dict[str, Bags], num_features: int, eval_batch_size: int, device: torch.device,
             shard: Shard = SINGLE) -> Run:
    """Seed, check that the data fit the batch and the device, then build the model params.model names and its batches.

    The order of the draws (model weights, then each epoch's shuffles) is what makes reruns byte-identical.
    """
    generator = seed_everything(params.seed, params.deterministic)
    require_batch_fits(params, len(bags["train"]), "training reviews")
    engine = resolve_engine(params.engine, device, imdb_graphable(params.model), params.key("engine"), shard.world)
    require_device_memory(bags_bytes([bags["train"], bags["test"]], engine == "graph"), device, "the encoded reviews",
                          params.key("device"))
    config = imdb_config(params, num_features, shard.world)
    model = build_model(lambda: imdb_model(config), params, device, f"{params.key('hidden')} and imdb.vocab_size")
    train_batches = imdb_batches(params.model, bags["train"], params.batch_size, device, params.shuffle, generator,
                                 shard)
    test_batches = imdb_batches(params.model, bags["test"], eval_batch_size, device)
    return Run(model, config, train_batches, test_batches, loss_function(params.head), engine, num_classes=2)
