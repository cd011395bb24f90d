"""Optimizers with PyTorch's update rules exactly: SGD (momentum, dampening, Nesterov, weight decay), Adam, AdamW.

Updates run in place on the parameters' arrays (NumPy or CuPy) without recording a graph; ``state_dict`` /
``load_state_dict`` save and restore the step counts and moment buffers.
"""
import functools
import math

from .. import _capture
from ..ops import fused
from ..tensor import Tensor, wrap

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


class Optimizer:
    """Parameter groups (dicts with "params" and hyper-parameters) and per-parameter state."""

    def __init__(self, params, defaults):
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = defaults
        self.param_groups = []
        self.state = {}
        self._scratch = {}  # per parameter: a buffer for lr * update, so steps allocate nothing
        for group in groups:
            params = list(group["params"])
            for i, p in enumerate(params):
                if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                    raise TypeError(f"{type(self).__name__}: parameter {i} must be a leaf tensor that requires grad")
            full = dict(defaults, **{k: v for k, v in group.items() if k != "params"})
            full["params"] = params
            self._check(full)
            self.param_groups.append(full)

    def _check(self, group):
        if group["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient. Works on the raw arrays, so nothing is recorded."""
        loss = None
        if closure is not None:
            from ..autograd.grad_mode import enable_grad
            with enable_grad():
                loss = closure()
        state = self.state
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if _capture.ACTIVE is not None:  # gpuad.compile: recorded as one call that reads state and group anew
                    from ..capture.calls import optimizer_update
                    _capture.ACTIVE.run(functools.partial(optimizer_update, self, p, group), (g,))
                    continue
                s = state.get(id(p))
                if s is None:
                    s = state[id(p)] = {}
                self._update(p, g._data, s, group)
                p._version_counter.value += 1  # saved copies of the parameter now see it changed
        return loss

    # --- saving ---------------------------------------------------------------------------------------------------
    def _index(self):
        return {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}

    def state_dict(self):
        index = self._index()
        state = {index[pid]: {k: (v.detach() if isinstance(v, Tensor) else v) for k, v in s.items()}
                 for pid, s in self.state.items() if pid in index}
        groups = []
        for g in self.param_groups:
            saved = {k: v for k, v in g.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in g["params"]]
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected a dict with 'state' and "
                             f"'param_groups'")
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved groups have "
                             f"{[len(g['params']) for g in groups]} parameters, this optimizer "
                             f"{[len(g['params']) for g in self.param_groups]}")
        params = [p for g in self.param_groups for p in g["params"]]
        self.state = {}
        for key, s in state_dict["state"].items():
            p = params[int(key)]
            restored = {}
            for k, v in s.items():
                if isinstance(v, Tensor) or hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                    t = v if isinstance(v, Tensor) else wrap(p._device.backend.asarray(v), p._device)
                    if t.shape != p.shape:
                        raise ValueError(f"{type(self).__name__}.load_state_dict: state {k!r} of parameter {key} "
                                         f"has shape {t.shape}, the parameter {p.shape}")
                    restored[k] = t.to(p.device).to(p.dtype).clone()
                else:
                    restored[k] = v
            self.state[id(p)] = restored
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})


def _fused(p, g):
    """Whether this parameter's update runs as one of gpuad's CUDA kernels (kernels/optim.cu)."""
    return fused.on(p._device) and g.dtype == p._data.dtype and fused.kernels().compute_type(g.dtype) is not None


def _scaled(optimizer, p, update, scale):
    """scale * update, written into a buffer kept for this parameter (no allocation per step)."""
    buf = optimizer._scratch.get(id(p))
    if buf is None or buf.shape != update.shape or buf.dtype != update.dtype:
        buf = optimizer._scratch[id(p)] = p._device.backend.xp.empty_like(p._data)
    return p._device.backend.xp.multiply(update, scale, out=buf)


def _buffer(state, name, like):
    """state[name], created as zeros like the parameter's array on first use."""
    t = state.get(name)
    if t is None:
        t = state[name] = wrap(like._device.backend.xp.zeros_like(like._data), like._device)
    return t._data


class SGD(Optimizer):
    """p -= lr * d, with d = g (+ weight_decay p), then momentum (buf = momentum buf + (1 - dampening) d) and
    Nesterov (d + momentum buf) as in torch.optim.SGD."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _update(self, p, g, state, group):
        data = p._data
        momentum = group["momentum"]
        if _fused(p, g):  # one kernel reads p, g (and the momentum buffer) once and writes them once
            k = fused.kernels()
            compute = k.compute_type(data.dtype)
            with p._device.backend.device:
                if momentum:
                    first = "momentum_buffer" not in state
                    if first:
                        state["momentum_buffer"] = wrap(p._device.backend.xp.empty_like(data), p._device)
                    k.launch("gpuad_sgd_momentum", k.sgd_kernel(compute, True), g, group["lr"], momentum,
                             1 - group["dampening"], group["weight_decay"], group["nesterov"], first, data,
                             state["momentum_buffer"]._data)
                else:
                    k.launch("gpuad_sgd", k.sgd_kernel(compute, False), g, group["lr"], group["weight_decay"], data)
            return
        if group["weight_decay"]:
            g = g + group["weight_decay"] * data
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = wrap(g.copy(), p._device)
                buf = state["momentum_buffer"]._data
            else:
                buf = state["momentum_buffer"]._data
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        data -= _scaled(self, p, g, group["lr"])


class Adam(Optimizer):
    """Adam (Kingma and Ba) with PyTorch's bias corrections; ``weight_decay`` adds an L2 term to the gradient."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check(self, group):
        super()._check(group)
        b1, b2 = group["betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1) or group["eps"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid betas {group['betas']} or eps {group['eps']}")

    def _update(self, p, g, state, group):
        data = p._data
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        state["step"] = step = state.get("step", 0) + 1
        m = _buffer(state, "exp_avg", p)
        v = _buffer(state, "exp_avg_sq", p)
        if _fused(p, g):  # one kernel reads p, g, m and v once and writes p, m and v once
            k = fused.kernels()
            with p._device.backend.device:
                k.launch("gpuad_adam", k.adam_kernel(k.compute_type(data.dtype)), g, b1, 1 - b1, b2, 1 - b2, eps,
                         0.0 if self.decoupled else wd, 1 - lr * wd if self.decoupled else 1.0,
                         lr / (1 - b1 ** step), math.sqrt(1 - b2 ** step), data, m, v)
            return
        if wd:
            if self.decoupled:
                data *= 1 - lr * wd
            else:
                g = g + wd * data
        xp = p._device.backend.xp
        m *= b1
        m += _scaled(self, p, g, 1 - b1)
        v *= b2
        scratch = _scaled(self, p, g, 1 - b2)
        scratch *= g
        v += scratch
        bias_correction1 = 1 - b1 ** step
        bias_correction2 = 1 - b2 ** step
        denom = xp.sqrt(v, out=scratch)
        denom /= math.sqrt(bias_correction2)
        denom += eps
        xp.divide(m, denom, out=denom)
        denom *= lr / bias_correction1
        data -= denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr * weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
