"""NAdam as torch.optim.NAdam: Adam with Nesterov momentum (Dozat), the momentum schedule
mu_t = b1 (1 - 0.5 * 0.96^(t momentum_decay)) and its running product kept in ``state["mu_product"]``."""
import numpy as np

from ..device import CPU
from ..tensor import wrap
from .optimizer import Optimizer, advance, check_betas, lerp_, scalar_dtype, step_tensor, zeros_state

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam with PyTorch's momentum decay, L2 or decoupled weight decay, and maximize."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        check_betas(group)
        if not 0.0 <= group["momentum_decay"]:
            raise ValueError(f"Invalid momentum_decay value: {group['momentum_decay']}")

    def _update(self, p, g, group):
        xp = p._device.backend.xp
        lr, (b1, b2), wd, momentum_decay = group["lr"], group["betas"], group["weight_decay"], group["momentum_decay"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            # a 0-d CPU tensor in PyTorch's scalar dtype, multiplied in place: float32 under the default dtype
            state["mu_product"] = wrap(np.ones((), dtype=scalar_dtype()), CPU)
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
        step = advance(state)
        bias_correction2 = 1 - b2 ** step
        data = p._data
        if wd and group["decoupled_weight_decay"]:
            data *= 1 - lr * wd
        d = self._direction(p, g, group)
        t, u = self._temp(p, "t"), self._temp(p, "u")
        mu = b1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product = state["mu_product"]._data
        mu_product *= mu
        mu_product = float(mu_product)
        exp_avg = lerp_(xp, state["exp_avg"]._data, d, 1 - b1, t)
        exp_avg_sq = state["exp_avg_sq"]._data
        exp_avg_sq *= b2
        xp.multiply(d, 1 - b2, out=t)
        t *= d
        exp_avg_sq += t
        denom = xp.divide(exp_avg_sq, bias_correction2, out=t)
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        xp.divide(d, denom, out=u)
        u *= -lr * (1.0 - mu) / (1.0 - mu_product)
        data += u
        xp.divide(exp_avg, denom, out=u)
        u *= (-lr * mu_next) / (1.0 - mu_product * mu_next)
        data += u
