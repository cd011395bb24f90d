"""Adamax as torch.optim.Adamax: m = lerp(m, d, 1 - b1), u = max(b2 u, |d| + eps), p -= lr / (1 - b1^t) m / u."""
from .optimizer import Optimizer, advance, check_betas, lerp_, step_tensor, zeros_state

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax, the infinity-norm variant of Adam (Kingma and Ba), with weight decay and maximize."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _validate(self, group):
        super()._validate(group)
        check_betas(group)

    def _update(self, p, g, group):
        xp = p._device.backend.xp
        b1, b2 = group["betas"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["exp_avg"] = zeros_state(p)
            state["exp_inf"] = zeros_state(p)
        step = advance(state)
        d = self._direction(p, g, group)
        t = self._temp(p, "t")
        exp_avg = lerp_(xp, state["exp_avg"]._data, d, 1 - b1, t)
        exp_inf = state["exp_inf"]._data
        exp_inf *= b2
        xp.abs(d, out=t)
        t += group["eps"]
        xp.maximum(exp_inf, t, out=exp_inf)
        xp.divide(exp_avg, exp_inf, out=t)
        t *= group["lr"] / (1 - b1 ** step)
        p._data -= t
