"""The Optimizer base class with PyTorch's layout: ``param_groups`` (dicts holding every hyper-parameter),
``state`` keyed by the parameter, ``add_param_group``, ``zero_grad`` and ``state_dict`` / ``load_state_dict``
(state keyed by the parameter's integer index, groups listing their indices), so that a run resumes bitwise.

Subclasses write ``_update(p, g, group)``: one parameter's step on raw arrays (NumPy or CuPy), in place,
with ``out=`` ufuncs into buffers kept per parameter, so a step records no graph and allocates nothing. It runs with
the parameter's device current (its backend's ``on_device``), so the state and temporaries it makes land there;
SGD and Adam hand the whole update to the backend (``sgd_step``, ``adam_step``: a fused kernel on CUDA).
"""
import copy
import functools
import warnings
from collections import defaultdict

import numpy as np

from .. import _capture, dtypes
from ..autograd.graph import HookHandle
from ..backends.optim_updates import direction, scratch_array
from ..device import CPU
from ..tensor import Tensor, wrap
from .step_hooks import (register_optimizer_step_post_hook, register_optimizer_step_pre_hook,  # noqa: F401
                         with_step_hooks)
from ..autograd.grad_mode import enable_grad

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """The default of a hyper-parameter every group must give (PyTorch's ``torch.optim.optimizer.required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Parameter groups and per-parameter state; ``step`` calls ``_update`` for every parameter that has a grad."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:  # a user's step runs the step hooks too, as in PyTorch
            cls.step = with_step_hooks(cls.__dict__["step"])

    def __init__(self, params, defaults):
        self._step_pre_hooks, self._step_post_hooks = [], []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got gpuad.Tensor")
        self._validate(defaults)  # the constructor's arguments first, as PyTorch checks them
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._scratch = {}  # id(parameter) -> {slot: array}: temporaries of the update, reused every step
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- groups ---------------------------------------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group (a dict with "params" and any hyper-parameters; the missing ones take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if not (p.is_leaf or getattr(p, "retains_grad", False)):
                raise ValueError("can't optimize a non-leaf Tensor")
        param_group["params"] = params
        overrides = len(param_group) > 1 + ("param_names" in param_group)
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if overrides:
            self._validate(param_group)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for g in self.param_groups:
            if ("param_names" in g) != ("param_names" in param_group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(f"all optimizer param groups should be with/without names. cannot add param group "
                                 f"{which} to the optimizer")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def _validate(self, group):
        """Raise PyTorch's error for a bad hyper-parameter of ``group`` (subclasses check their own). A user's
        optimizer on the base class is not checked, as in PyTorch (its lr may be None, its eps a pair)."""
        if type(self)._update is not Optimizer._update:
            _check_common(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"

    # --- stepping -------------------------------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Drop every parameter's grad (``set_to_none``, the default) or zero it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if g._node is not None or g._rg:
                        g.detach_()
                    g.zero_()

    def register_step_pre_hook(self, hook):
        """Run ``hook(self, args, kwargs)`` before each ``step`` (returning None or new (args, kwargs))."""
        self._step_pre_hooks.append(hook)
        return HookHandle(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """Run ``hook(self, args, kwargs)`` after each ``step``."""
        self._step_post_hooks.append(hook)
        return HookHandle(self._step_post_hooks, hook)

    @with_step_hooks
    def step(self, closure=None):
        """One update of every parameter whose grad is not None. Works on the raw arrays: nothing is recorded."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if _capture.state.active is not None:  # gpuad.compile: one recorded call that reads state and group anew
                    from ..capture.calls import optimizer_update  # lazy: gpuad.capture is a layer above
                    _capture.state.active.run(functools.partial(optimizer_update, self, p, group), (g,))
                    continue
                self._update_param(p, g._data, group)
        return loss

    def _update_param(self, p, g, group):
        """``_update`` on the parameter's device; saved copies of the parameter then see it changed."""
        p._device.backend.on_device(self._update, p, g, group)
        p._version_counter.value += 1

    def _update(self, p, g, group):
        """Update parameter ``p`` in place from its gradient array ``g``; its state is ``self.state[p]``."""
        raise NotImplementedError

    # --- saving ---------------------------------------------------------------------------------------------------
    def state_dict(self):
        """{"state": {index: per-parameter state}, "param_groups": [group with "params" as index lists]}, as in
        PyTorch: indices count the parameters of all groups in order. The state's tensors are the live ones."""
        index = {}
        groups = []
        start = 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            for i, p in enumerate(g["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in g["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): dict(v) for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``: the state's tensors are copied onto each parameter's device (floating ones
        in its dtype; ``step`` stays as saved) and the groups' hyper-parameters replace the current ones."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(a["params"]) != len(b["params"]) for a, b in zip(saved_groups, self.param_groups)):
            raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                             f"optimizer's group (the saved groups have {[len(g['params']) for g in saved_groups]} "
                             f"parameters, this optimizer's {[len(g['params']) for g in self.param_groups]})")
        builtin = type(self)._update is not Optimizer._update  # gpuad's step machinery reads step as a tensor
        id_map = {}
        for saved, group in zip(saved_groups, self.param_groups):
            id_map.update(zip(saved["params"], group["params"]))
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            p = id_map.get(key)
            if p is None and isinstance(key, str) and key.isdigit():  # a state dict that went through JSON
                p = id_map.get(int(key))
            if p is None:
                state[key] = value
                continue
            state[p] = {k: _restore(v, p, k, name, key, builtin) for k, v in value.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for k, v in self.defaults.items():  # a group saved before a hyper-parameter existed takes its default
                saved.setdefault(k, v)
        self.state = state
        self.param_groups = saved_groups
        self._scratch = {}
        self._loaded()

    def _loaded(self):
        """Called after ``load_state_dict`` (AdamW pins decoupled_weight_decay here)."""

    # --- buffers for subclasses -----------------------------------------------------------------------------------
    def _scratch_of(self, p):
        """The dict of the parameter's temporaries (slot -> array), kept for it and reused by every step."""
        bufs = self._scratch.get(id(p))
        if bufs is None:
            bufs = self._scratch[id(p)] = {}
        return bufs

    def _temp(self, p, slot):
        """A scratch array like the parameter's, kept for it under ``slot`` (reused by every step)."""
        return scratch_array(p._device.backend.xp, self._scratch_of(p), p._data, slot)

    def _direction(self, p, g, group):
        """The gradient PyTorch's update uses: -g when maximizing, plus weight_decay * p when not decoupled.
        Returns ``g`` itself when neither applies (never written to), else a scratch array."""
        wd = 0 if group.get("decoupled_weight_decay", False) else group["weight_decay"]
        return direction(p._device.backend.xp, p._data, g, self._scratch_of(p), wd, group["maximize"])


def _restore(value, p, key, name, index, builtin):
    """A saved state value made ready for parameter ``p``: tensors and arrays become tensors on its device (in its
    dtype when floating); ``step`` and ``mu_product`` stay 0-d CPU tensors in their saved dtype, so that a resumed
    run is bitwise the uninterrupted one (a built-in optimizer's number becomes one; a user's optimizer keeps its
    Python number, as in PyTorch); other values are copied as they are."""
    if isinstance(value, np.ndarray):
        value = wrap(np.array(value), CPU)
    if not isinstance(value, Tensor):
        return step_tensor(float(value)) if builtin and key in _SCALAR_STATE else copy.deepcopy(value)
    if key in _SCALAR_STATE and value.ndim == 0:
        return wrap(np.array(value._host(), copy=True), CPU)
    if key in _BUFFERS and value.shape != p.shape:
        raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {index} has shape {value.shape}, "
                         f"the parameter {p.shape}")
    dtype = p.dtype if p.dtype.kind == "f" else value.dtype
    return value.to(p.device).to(dtype).clone()


_SCALAR_STATE = ("step", "mu_product")  # 0-d state PyTorch keeps on the CPU in its scalar dtype
# the built-in optimizers' per-element state: the parameter's shape
_BUFFERS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "sum",
            "exp_inf", "acc_delta", "prev", "step_size")


def scalar_dtype():
    """PyTorch's dtype for 0-d optimizer state (step, mu_product): float64 under a float64 default, else float32."""
    return dtypes.float64 if dtypes.get_default_dtype() == dtypes.float64 else dtypes.float32


def step_tensor(value=0.0):
    """A 0-d CPU tensor in PyTorch's scalar dtype, as ``state["step"]`` is."""
    return wrap(np.array(value, dtype=scalar_dtype()), CPU)


def advance(state):
    """``state["step"] += 1`` in place (its 0-d array); returns the new step as a Python float."""
    t = state["step"]._data
    t += 1
    return float(t)


def zeros_state(p):
    """A zero tensor like the parameter (its shape, dtype and device)."""
    return wrap(p._device.backend.xp.zeros_like(p._data), p._device)


def lerp_(xp, a, b, w, tmp):
    """a.lerp_(b, w) as PyTorch computes it (a + w (b - a) for w < 0.5, else b - (b - a)(1 - w)), through ``tmp``."""
    xp.subtract(b, a, out=tmp)
    if w < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= 1 - w
        xp.subtract(b, tmp, out=a)
    return a


# --- hyper-parameter checks with PyTorch's messages ---------------------------------------------------------------
def _number(value, what):
    if isinstance(value, Tensor):
        raise TypeError(f"gpuad optimizers take {what} as a Python number, not a Tensor (a Tensor {what} is a "
                        f"PyTorch feature gpuad does not have)")
    return value


def _check_common(group):
    """The checks every optimizer shares; a hyper-parameter a (user's) optimizer does not have is not checked."""
    lr = group.get("lr", required)
    if lr is not required and not 0.0 <= _number(lr, "lr"):
        raise ValueError(f"Invalid learning rate: {lr}")
    if group.get("eps", required) is not required and not 0.0 <= group["eps"]:
        raise ValueError(f"Invalid epsilon value: {group['eps']}")
    wd = group.get("weight_decay", required)
    if wd is not required and not 0.0 <= _number(wd, "weight_decay"):
        raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
    if group.get("differentiable"):
        raise NotImplementedError("differentiable=True is not supported: gpuad's optimizer step runs on raw arrays "
                                  "and records no graph")
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def check_betas(group):
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, b in enumerate(betas):
        if not 0.0 <= _number(b, f"betas[{i}]") < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")


def check_momentum(group):
    if not 0.0 <= group["momentum"]:
        raise ValueError(f"Invalid momentum value: {group['momentum']}")
