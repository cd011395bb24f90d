"""SGD as torch.optim.SGD: d = g (negated when maximizing) + weight_decay p; with momentum, buf = d on the first
step, then momentum buf + (1 - dampening) d, and d = buf (or d + momentum buf with Nesterov); p -= lr d.
The update itself is the backend's ``sgd_step`` (one fused kernel per parameter on CUDA)."""
from .optimizer import Optimizer, check_momentum, zeros_state

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _validate(self, group):
        super()._validate(group)
        check_momentum(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, p, g, group):
        momentum = group["momentum"]
        buf, first = None, False
        if momentum:
            state = self.state[p]
            first = "momentum_buffer" not in state
            if first:  # sgd_step writes it whole on the first step
                state["momentum_buffer"] = zeros_state(p)
            buf = state["momentum_buffer"]._data
        p._device.backend.sgd_step(p._data, g, buf, self._scratch_of(p), lr=group["lr"], momentum=momentum,
                                   dampening=group["dampening"], weight_decay=group["weight_decay"],
                                   nesterov=group["nesterov"], maximize=group["maximize"], first=first,
                                   fused=group["fused"] is not False)
