"""SGD and Adam as torch.optim.SGD and torch.optim.Adam compute them, through torch.optim's functional API.

The Optimizer classes import torch's compiler (dynamo) on their first use (benchmarks/README.md), which a
training process would wait for and never run; the functional forms import nothing. Each class keeps the
state its torch.optim twin keeps and makes the same call, so training comes out bit for bit the same.
"""

from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from reprolab.core.params import TrainingRun


class _Optimizer:
    """The parameters and per-parameter state; step() updates those that have a gradient."""

    def __init__(self, parameters: Iterable[nn.Parameter]):
        self.parameters = list(parameters)
        self.state: dict[nn.Parameter, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """Drop every gradient, so the next backward writes fresh ones (torch.optim's set_to_none)."""
        for parameter in self.parameters:
            parameter.grad = None

    @torch.no_grad()
    def step(self) -> None:
        with_grads = [p for p in self.parameters if p.grad is not None]
        self._update(with_grads, [p.grad for p in with_grads])

    def _update(self, parameters: list[nn.Parameter], grads: list[torch.Tensor]) -> None:
        raise NotImplementedError


class SGD(_Optimizer):
    """torch.optim.SGD(parameters, lr, momentum, weight_decay), dampening 0, not Nesterov."""

    def __init__(self, parameters: Iterable[nn.Parameter], lr: float, momentum: float, weight_decay: float):
        super().__init__(parameters)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay

    def _update(self, parameters: list[nn.Parameter], grads: list[torch.Tensor]) -> None:
        buffers = [self.state.get(p, {}).get("momentum_buffer") for p in parameters] if self.momentum else []
        sgd(parameters, grads, buffers, weight_decay=self.weight_decay, momentum=self.momentum, lr=self.lr,
            dampening=0.0, nesterov=False, maximize=False, has_sparse_grad=any(g.is_sparse for g in grads),
            foreach=None, fused=None, grad_scale=None, found_inf=None)
        for parameter, buffer in zip(parameters, buffers):  # sgd made the buffers of a first step
            self.state[parameter] = {"momentum_buffer": buffer}


class Adam(_Optimizer):
    """torch.optim.Adam(parameters, lr, weight_decay=..., fused=True, capturable=...) with default betas and eps.

    fused: one kernel per step instead of a dozen passes over the 4M first-layer weights. capturable: the step
    counts live on the parameters' device, so a CUDA graph can hold the step.
    """

    def __init__(self, parameters: Iterable[nn.Parameter], lr: float, weight_decay: float, capturable: bool):
        super().__init__(parameters)
        self.lr, self.weight_decay, self.capturable = lr, weight_decay, capturable

    def _update(self, parameters: list[nn.Parameter], grads: list[torch.Tensor]) -> None:
        for parameter in parameters:
            if parameter not in self.state:
                self.state[parameter] = {
                    "step": torch.zeros((), dtype=torch.float32, device=parameter.device),
                    "exp_avg": torch.zeros_like(parameter, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(parameter, memory_format=torch.preserve_format)}
        states = [self.state[p] for p in parameters]
        adam(parameters, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [],
             [s["step"] for s in states], amsgrad=False, has_complex=any(p.is_complex() for p in parameters),
             beta1=0.9, beta2=0.999, lr=self.lr, weight_decay=self.weight_decay, eps=1e-8, maximize=False,
             foreach=None, capturable=self.capturable, differentiable=False, fused=True, grad_scale=None,
             found_inf=None, decoupled_weight_decay=False)


Optimizer = SGD | Adam


def make_optimizer(model: nn.Module, params: TrainingRun, capturable: bool = False) -> Optimizer:
    """SGD (with momentum and weight decay) or Adam (with weight decay); momentum is SGD's only.

    capturable: the optimizer keeps its step counts on the GPU, so a CUDA graph can hold its step.
    """
    if params.optimizer == "sgd":
        return SGD(model.parameters(), lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay)
    return Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay, capturable=capturable)
