"""One IMDB training run, built the same way for train_imdb, every sweep point and the overfitting run."""

import torch

from reprolab.core.device import seed_everything
from reprolab.core.distributed import SINGLE, Shard
from reprolab.core.batches import epoch_order
from reprolab.core.engines import Resident, resolve_engine
from reprolab.core.params import ImdbRun
from reprolab.core.train import (Run, bags_bytes, build_model, loss_function, require_batch_fits,
                                 require_device_memory)
from reprolab.imdb.batches import BagBatches, padded_bags
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
    train_in_order = train_batches.in_order(eval_batch_size)
    test_batches = imdb_batches(params.model, bags["test"], eval_batch_size, device)
    return Run(model, config, train_batches, train_in_order, test_batches, loss_function(params.head), engine,
               num_classes=2, resident=resident_bags)


def resident_bags(batches: BagBatches, generator: torch.Generator) -> Resident:
    """Bags as the graph engine reads them: each batch's bags become dense one-hot rows on the device.

    The bags are padded once to the longest with -1, which a step maps to one extra column of its
    (batch, num_features + 1) one-hot buffer and drops. At batch 128 that buffer is 10 MB for a 20k
    vocabulary and 51 MB for 100k, where a materialised one-hot training set would take 1 GB and
    5 GB in bfloat16.
    """
    padded = padded_bags(batches.ids, batches.offsets, pad=-1)

    def logits(model: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
        width = model.num_features + 1
        ids = padded.index_select(0, rows).remainder_(width)  # -1 becomes width - 1, the dropped column
        one_hot = torch.zeros(len(rows), width, device=ids.device).scatter_(1, ids, 1.0)
        return model.forward_dense(one_hot[:, :-1])

    def order() -> torch.Tensor:
        return epoch_order(len(batches.labels), batches.shuffle, generator)

    return Resident(batches.labels, order, logits)
