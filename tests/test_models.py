import math

import numpy as np
import pytest
import torch

from reprolab.core.batches import TensorBatches
from reprolab.core.device import seed_everything
from reprolab.core.engines import fit, steps_by_hand
from reprolab.core.optim import make_optimizer
from reprolab.core.params import ImdbRun
from reprolab.core.train import evaluate, initial_loss, loss_function
from reprolab.imdb.batches import BagBatches, SequenceBatches
from reprolab.imdb.data import Bags
from reprolab.imdb.models import OneHotMLP, one_hot_rows, sparse_gradients_allowed, transpose_bags

NUM_FEATURES = 50


def random_bags(rows: int, seed: int = 0) -> Bags:
    """Balanced bags that hold word 1 when positive, word 0 when not, plus noise words."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows).astype(np.uint8)
    bags = [np.unique(np.append(rng.integers(2, NUM_FEATURES, rng.integers(0, 12)), label)) for label in labels]
    offsets = np.concatenate([[0], np.cumsum([len(bag) for bag in bags])])
    return Bags(ids=np.concatenate(bags).astype(np.uint16), offsets=offsets, labels=labels)


def train_params(section: str = "train_imdb", **overrides) -> ImdbRun:
    values = dict(model="embedding_bag", hidden=16, head="bce", optimizer="adam", lr=0.01, momentum=0.0,
                  weight_decay=0.0, batch_size=16, epochs=1, shuffle=True, seed=0, grad_clip=0.0,
                  device="cpu", engine="eager", deterministic=True, precision="fp32")
    return ImdbRun(**{**values, **overrides}).named(section)


@pytest.mark.parametrize("head", ["bce", "ce"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fast_path_equals_dense_one_hot(head, optimizer):
    torch.manual_seed(0)
    fast = OneHotMLP(NUM_FEATURES, 16, head, "embedding_bag")
    dense = OneHotMLP(NUM_FEATURES, 16, head, "dense")
    dense.load_state_dict(fast.state_dict())
    params = train_params(head=head, optimizer=optimizer, momentum=0.9 if optimizer == "sgd" else 0.0, weight_decay=1e-3)
    optimizers = [make_optimizer(model, params) for model in (fast, dense)]
    batches = BagBatches(random_bags(64), 16, torch.device("cpu"))
    criterion = loss_function(head)
    for ids, offsets, labels in batches:
        for model, opt in zip((fast, dense), optimizers, strict=True):
            opt.zero_grad()
            criterion(model(ids, offsets), labels).backward()
        for p_fast, p_dense in zip(fast.parameters(), dense.parameters(), strict=True):
            torch.testing.assert_close(p_fast.grad, p_dense.grad, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(fast(ids, offsets), dense(ids, offsets), rtol=1e-5, atol=1e-6)
        for opt in optimizers:
            opt.step()
    for p_fast, p_dense in zip(fast.parameters(), dense.parameters(), strict=True):
        torch.testing.assert_close(p_fast, p_dense, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("head", ["bce", "ce"])
def test_sparse_gradients_give_the_same_sgd_steps(head):
    torch.manual_seed(0)
    dense = OneHotMLP(NUM_FEATURES, 16, head, "embedding_bag")
    sparse = OneHotMLP(NUM_FEATURES, 16, head, "embedding_bag", sparse=True)
    sparse.load_state_dict(dense.state_dict())
    params = train_params(head=head, optimizer="sgd", lr=0.1)
    assert sparse_gradients_allowed(params.optimizer, params.momentum, params.weight_decay, params.grad_clip)
    assert not sparse_gradients_allowed("sgd", 0.9, 0.0, 0.0) and not sparse_gradients_allowed("adam", 0.0, 0.0, 0.0)
    criterion = loss_function(head)
    optimizers = [make_optimizer(model, params) for model in (dense, sparse)]
    for ids, offsets, labels in BagBatches(random_bags(64), 16, torch.device("cpu")):
        for model, optimizer in zip((dense, sparse), optimizers, strict=True):
            optimizer.zero_grad()
            criterion(model(ids, offsets), labels).backward()
        gradient = sparse.first_weight.grad
        assert gradient.is_sparse and not dense.first_weight.grad.is_sparse
        assert gradient._indices()[0].tolist() == torch.unique(ids).tolist()  # one row per distinct word
        torch.testing.assert_close(gradient.to_dense(), dense.first_weight.grad, rtol=1e-5, atol=1e-7)
        for optimizer in optimizers:
            optimizer.step()
    for p_dense, p_sparse in zip(dense.parameters(), sparse.parameters(), strict=True):
        torch.testing.assert_close(p_sparse, p_dense, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lr", [0.01, 0.1])  # rates that round in binary, so a reordered multiply shows
@pytest.mark.parametrize("batch_size", [1, 5, 16])
@pytest.mark.parametrize("head", ["bce", "ce"])
def test_hand_sgd_steps_are_autograd_and_torch_sgd_bit_for_bit(head, batch_size, lr):
    torch.manual_seed(0)
    by_autograd = OneHotMLP(NUM_FEATURES, 16, head, "embedding_bag", sparse=True)
    by_hand = OneHotMLP(NUM_FEATURES, 16, head, "embedding_bag", sparse=True)
    by_hand.load_state_dict(by_autograd.state_dict())
    params = train_params(head=head, optimizer="sgd", lr=lr, batch_size=batch_size)
    assert steps_by_hand(by_hand, params) and not steps_by_hand(OneHotMLP(NUM_FEATURES, 16, head), params)
    assert not steps_by_hand(by_hand, train_params(optimizer="sgd", precision="bf16"))
    optimizer, criterion = make_optimizer(by_autograd, params), loss_function(head)
    for ids, offsets, labels in BagBatches(random_bags(64), batch_size, torch.device("cpu")):
        optimizer.zero_grad()
        criterion(by_autograd(ids, offsets), labels).backward()
        optimizer.step()
        logits, step = by_hand.sgd_forward(ids, offsets)
        criterion(logits, labels).backward()
        step(params.lr)
        for expected, actual in zip(by_autograd.parameters(), by_hand.parameters(), strict=True):
            assert torch.equal(actual, expected)


def test_a_single_bag_transposes_without_sorting_only_when_its_ids_ascend():
    for ids in ([2, 5, 9], [9, 2, 5, 2]):
        distinct, holders, holder_offsets = transpose_bags(torch.tensor(ids), torch.tensor([0]), NUM_FEATURES)
        assert distinct.tolist() == sorted(set(ids))
        assert holders.tolist() == [0] * len(ids)
        assert holder_offsets.tolist() == [sorted(ids).index(word) for word in sorted(set(ids))]


@pytest.mark.parametrize("num_ids", [NUM_FEATURES, 2**16 + 1])  # numpy's radix path, then torch's sort
def test_transposed_bags_list_the_bags_of_each_id(num_ids):
    bags = random_bags(40)
    ids, offsets = torch.from_numpy(bags.ids.astype(np.int64)), torch.from_numpy(bags.offsets[:-1].astype(np.int64))
    start, end = offsets[5].item(), offsets[6].item()  # empty bag 5
    ids, offsets[6:] = torch.cat([ids[:start], ids[end:]]), offsets[6:] - (end - start)
    distinct, holders, holder_offsets = transpose_bags(ids, offsets, num_ids)
    rows = one_hot_rows(ids, offsets, NUM_FEATURES)
    assert distinct.tolist() == torch.nonzero(rows.sum(0)).flatten().tolist()
    ends = holder_offsets.tolist()[1:] + [len(holders)]
    for word, start, end in zip(distinct.tolist(), holder_offsets.tolist(), ends, strict=True):
        assert holders[start:end].tolist() == torch.nonzero(rows[:, word]).flatten().tolist()


def test_bf16_autocast_trains():
    generator = seed_everything(0, deterministic=True)
    model = OneHotMLP(NUM_FEATURES, 16, "ce")
    train = BagBatches(random_bags(512), 32, torch.device("cpu"), True, generator)
    test = BagBatches(random_bags(256, seed=1), 64, torch.device("cpu"))
    criterion = loss_function("ce")
    results = list(fit(model, train, test, train_params(head="ce", epochs=3, precision="bf16"), criterion, criterion))
    assert results[-1].test.accuracy > 0.95
    assert model.first_weight.dtype == torch.float32


def test_dense_rows_are_the_one_hot_vectors():
    ids, offsets = torch.tensor([0, 3, 1, 2, 4]), torch.tensor([0, 2, 2])
    expected = torch.tensor([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 1, 1, 0, 1]], dtype=torch.float)
    assert torch.equal(one_hot_rows(ids, offsets, 5), expected)


def test_batches_cover_every_row_once_and_shuffle_reproducibly():
    bags = random_bags(37)
    plain = BagBatches(bags, 8, torch.device("cpu"))
    assert len(plain) == 5
    dense = torch.cat([one_hot_rows(ids, offsets, NUM_FEATURES) for ids, offsets, _ in plain])
    for row in range(len(bags)):
        assert torch.nonzero(dense[row]).flatten().tolist() == bags.ids[bags.offsets[row] : bags.offsets[row + 1]].tolist()
    first = [labels for _, _, labels in BagBatches(bags, 8, torch.device("cpu"), True, torch.Generator().manual_seed(1))]
    again = [labels for _, _, labels in BagBatches(bags, 8, torch.device("cpu"), True, torch.Generator().manual_seed(1))]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert sorted(torch.cat(first).tolist()) == sorted(bags.labels.tolist())


def test_epoch_layout_on_the_host_equals_the_device_gather():
    bags = random_bags(37)
    with_empty_bag = Bags(ids=bags.ids, offsets=np.append(bags.offsets, bags.offsets[-1]), labels=np.append(bags.labels, 0))
    batches = BagBatches(with_empty_bag, 8, torch.device("cpu"), shuffle=True, generator=torch.Generator())
    order = torch.randperm(38, generator=torch.Generator().manual_seed(0))
    for laid_out, gathered in zip(batches._laid_out(order), batches._gathered(order), strict=True):
        assert torch.equal(laid_out, gathered)


@pytest.mark.parametrize("kind", ["bags", "sequences", "tensors"])
def test_in_order_batches_share_the_tensors_draw_nothing_and_read_like_fresh_unshuffled_ones(kind):
    """The training split as evaluation reads it (the initial loss): no second copy of the data on the device."""
    cpu, bags = torch.device("cpu"), random_bags(37)
    images, labels = torch.randn(37, 1, 2, 2), torch.randint(0, 3, (37,))
    make = {"bags": lambda size, **kw: BagBatches(bags, size, cpu, **kw),
            "sequences": lambda size, **kw: SequenceBatches(bags, size, cpu, **kw),
            "tensors": lambda size, **kw: TensorBatches(images, labels, size, cpu, **kw)}[kind]
    drawn = {"weights": torch.ones(37)} if kind == "tensors" else {"shuffle": True}
    training = make(4, generator=torch.Generator().manual_seed(0), **drawn)
    state = training.generator.get_state()
    view = training.in_order(10)
    for ours, fresh in zip(view, make(10), strict=True):
        assert all(torch.equal(a, b) for a, b in zip(ours, fresh, strict=True))
    assert torch.equal(training.generator.get_state(), state) and view.labels is training.labels
    assert len(view) == 4 and len(training) == 10


@pytest.mark.parametrize("head", ["bce", "ce"])
def test_initial_loss_is_ln2_and_training_learns(head):
    generator = seed_everything(0, deterministic=True)
    model = OneHotMLP(NUM_FEATURES, 16, head)
    train = BagBatches(random_bags(512), 32, torch.device("cpu"), True, generator)
    test = BagBatches(random_bags(256, seed=1), 64, torch.device("cpu"))
    criterion = loss_function(head)
    assert abs(initial_loss(model, train, criterion) - math.log(2)) < 0.1
    before = evaluate(model, test, criterion)
    results = list(fit(model, train, test, train_params(head=head, epochs=5, grad_clip=1.0), criterion, criterion))
    assert [r.epoch for r in results] == [1, 2, 3, 4, 5]
    assert results[-1].test.loss < before.loss
    assert results[-1].test.accuracy > 0.95
    assert results[-1].test.perplexity == pytest.approx(math.exp(results[-1].test.loss))
