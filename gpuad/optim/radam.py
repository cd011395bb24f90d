"""RAdam as torch.optim.RAdam: Adam's moments with the variance rectification of Liu et al.: while the length of
the approximated simple moving average rho_t is at most 5 the step is the bias-corrected momentum alone."""
from .optimizer import Optimizer, advance, check_betas, lerp_, step_tensor, zeros_state

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """Rectified Adam with L2 or decoupled weight decay and maximize."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        check_betas(group)

    def _update(self, p, g, group):
        xp = p._device.backend.xp
        lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
        step = advance(state)
        data = p._data
        if wd and group["decoupled_weight_decay"]:
            data *= 1 - lr * wd
        d = self._direction(p, g, group)
        t, u = self._temp(p, "t"), self._temp(p, "u")
        exp_avg = lerp_(xp, state["exp_avg"]._data, d, 1 - b1, t)
        exp_avg_sq = state["exp_avg_sq"]._data
        exp_avg_sq *= b2
        xp.multiply(d, 1 - b2, out=t)
        t *= d
        exp_avg_sq += t
        bias_correction1 = 1 - b1 ** step
        bias_correction2 = 1 - b2 ** step
        update = xp.divide(exp_avg, bias_correction1, out=t)
        update *= lr
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2 ** step) / bias_correction2
        if rho_t > 5.0:
            adaptive = xp.sqrt(exp_avg_sq, out=u)
            adaptive += group["eps"]
            xp.divide(bias_correction2 ** 0.5, adaptive, out=adaptive)
            update *= adaptive
            update *= ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        data -= update
