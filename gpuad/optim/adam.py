"""Adam and AdamW as torch.optim's: m = b1 m + (1 - b1) d, v = b2 v + (1 - b2) d d (v_max = max(v_max, v) with
amsgrad), p -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps); weight decay adds wd p to d (Adam) or
multiplies p by 1 - lr wd first (AdamW, or Adam(decoupled_weight_decay=True))."""
import math

from ..ops import fused
from .optimizer import Optimizer, advance, check_betas, step_tensor, zeros_state
from .sgd import fused_applies

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma and Ba) with PyTorch's bias corrections, amsgrad, maximize and decoupled weight decay."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _validate(self, group):
        super()._validate(group)
        check_betas(group)

    def _update(self, p, g, group):
        data = p._data
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        decoupled, amsgrad = group["decoupled_weight_decay"], group["amsgrad"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
            if amsgrad:
                state["max_exp_avg_sq"] = zeros_state(p)
        step = advance(state)
        m = state["exp_avg"]._data
        v = state["exp_avg_sq"]._data
        if group["fused"] is not False and not (amsgrad or group["maximize"]) and fused_applies(p, g):
            # one kernel reads p, g, m and v once and writes p, m and v once
            k = fused.kernels()
            with p._device.backend.device:
                k.launch("gpuad_adam", k.adam_kernel(k.compute_type(data.dtype)), g, b1, 1 - b1, b2, 1 - b2, eps,
                         0.0 if decoupled else wd, 1 - lr * wd if decoupled else 1.0,
                         lr / (1 - b1 ** step), math.sqrt(1 - b2 ** step), data, m, v)
            return
        xp = p._device.backend.xp
        if wd and decoupled:
            data *= 1 - lr * wd
        d = self._direction(p, g, group)
        t = self._temp(p, "t")
        m *= b1
        m += xp.multiply(d, 1 - b1, out=t)
        v *= b2
        xp.multiply(d, 1 - b2, out=t)
        t *= d
        v += t
        if amsgrad:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = zeros_state(p)
            v = xp.maximum(state["max_exp_avg_sq"]._data, v, out=state["max_exp_avg_sq"]._data)
        denom = xp.sqrt(v, out=t)
        denom /= (1 - b2 ** step) ** 0.5
        denom += eps
        xp.divide(m, denom, out=denom)
        denom *= lr / (1 - b1 ** step)
        data -= denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr * weight_decay before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def _loaded(self):
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
