"""Adam and AdamW as torch.optim's: m = b1 m + (1 - b1) d, v = b2 v + (1 - b2) d d (v_max = max(v_max, v) with
amsgrad), p -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps); weight decay adds wd p to d (Adam) or
multiplies p by 1 - lr wd first (AdamW, or Adam(decoupled_weight_decay=True)). The update itself is the backend's
``adam_step`` (one fused kernel per parameter on CUDA, amsgrad and maximize aside)."""
from .optimizer import Optimizer, advance, check_betas, step_tensor, zeros_state

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
        (b1, b2), amsgrad = group["betas"], group["amsgrad"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_state(p)
        step = advance(state)
        p._device.backend.adam_step(p._data, g, state["exp_avg"]._data, state["exp_avg_sq"]._data, self._scratch_of(p),
                                    step=step, lr=group["lr"], beta1=b1, beta2=b2, eps=group["eps"],
                                    weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                                    maximize=group["maximize"],
                                    max_exp_avg_sq=state["max_exp_avg_sq"]._data if amsgrad else None,
                                    fused=group["fused"] is not False)


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
