import pytest
import torch
from test_models import NUM_FEATURES, random_bags, train_params

from reprolab.core.optim import make_optimizer
from reprolab.imdb.batches import BagBatches
from reprolab.imdb.models import OneHotMLP


def twin(model: torch.nn.Module, params) -> torch.optim.Optimizer:
    """The torch.optim optimizer make_optimizer stands for."""
    if params.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=params.lr, momentum=params.momentum,
                               weight_decay=params.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay, fused=True)


# sparse first-layer gradients go with plain SGD only (imdb.models.sparse_gradients_allowed)
@pytest.mark.parametrize("settings, sparse", [
    ({"optimizer": "sgd"}, False), ({"optimizer": "sgd"}, True),
    ({"optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-3}, False),
    ({"optimizer": "adam"}, False), ({"optimizer": "adam", "weight_decay": 1e-3}, False)])
def test_optimizers_step_bit_for_bit_like_their_torch_optim_twins(settings, sparse):
    params = train_params(lr=0.1, **settings)
    torch.manual_seed(0)
    ours = OneHotMLP(NUM_FEATURES, 16, "ce", "embedding_bag", sparse=sparse)
    theirs = OneHotMLP(NUM_FEATURES, 16, "ce", "embedding_bag", sparse=sparse)
    theirs.load_state_dict(ours.state_dict())
    optimizers = make_optimizer(ours, params), twin(theirs, params)
    for ids, offsets, labels in BagBatches(random_bags(64), 8, torch.device("cpu")):
        for model, optimizer in zip((ours, theirs), optimizers, strict=True):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(ids, offsets), labels).backward()
            optimizer.step()
        for mine, expected in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert torch.equal(mine, expected)
    for parameter, expected in zip(ours.parameters(), theirs.parameters(), strict=True):
        state = optimizers[0].state.get(parameter, {})
        assert state.keys() == optimizers[1].state[expected].keys()
        assert all(torch.equal(state[key], optimizers[1].state[expected][key]) for key in state)


def test_zero_grad_drops_every_gradient_and_a_step_skips_parameters_without_one():
    params = train_params(optimizer="adam", lr=0.1)
    model = OneHotMLP(NUM_FEATURES, 16, "ce", "embedding_bag")
    optimizer = make_optimizer(model, params)
    first = model.first_weight
    first.grad = torch.ones_like(first)
    before = {name: value.clone() for name, value in model.named_parameters()}
    optimizer.step()
    assert not torch.equal(first, before["first_weight"])
    assert all(torch.equal(value, before[name]) for name, value in model.named_parameters() if value is not first)
    assert list(optimizer.state) == [first]
    optimizer.zero_grad()
    assert all(parameter.grad is None for parameter in model.parameters())
