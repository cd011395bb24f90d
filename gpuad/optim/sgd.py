"""SGD as torch.optim.SGD: d = g (negated when maximizing) + weight_decay p; with momentum, buf = d on the first
step, then momentum buf + (1 - dampening) d, and d = buf (or d + momentum buf with Nesterov); p -= lr d."""
from ..ops import fused
from ..tensor import wrap
from .optimizer import Optimizer, check_momentum

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
        data = p._data
        momentum = group["momentum"]
        if group["fused"] is not False and not group["maximize"] and fused_applies(p, g):
            # one kernel reads p, g (and the momentum buffer) once and writes them once
            k = fused.kernels()
            compute = k.compute_type(data.dtype)
            with p._device.backend.device:
                if momentum:
                    state = self.state[p]
                    first = "momentum_buffer" not in state
                    if first:
                        state["momentum_buffer"] = wrap(p._device.backend.xp.empty_like(data), p._device)
                    k.launch("gpuad_sgd_momentum", k.sgd_kernel(compute, True), g, group["lr"], momentum,
                             1 - group["dampening"], group["weight_decay"], group["nesterov"], first, data,
                             state["momentum_buffer"]._data)
                else:
                    k.launch("gpuad_sgd", k.sgd_kernel(compute, False), g, group["lr"], group["weight_decay"], data)
            return
        xp = p._device.backend.xp
        d = self._direction(p, g, group)
        t = self._temp(p, "t")
        if momentum:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = wrap(xp.array(d, copy=True), p._device)
                buf = buf._data
            else:
                buf = buf._data
                buf *= momentum
                dampening = group["dampening"]
                if dampening:
                    buf += xp.multiply(d, 1 - dampening, out=t)
                else:
                    buf += d
            if group["nesterov"]:
                xp.multiply(buf, momentum, out=t)
                d = xp.add(d, t, out=t)
            else:
                d = buf
        data -= xp.multiply(d, group["lr"], out=t)


def fused_applies(p, g):
    """Whether this parameter's update can run as one of gpuad's CUDA kernels (kernels/optim.cu)."""
    return fused.on(p._device) and g.dtype == p._data.dtype and fused.kernels().compute_type(g.dtype) is not None
