"""Modules with PyTorch's names: Module, Parameter, Linear, Sequential, activations, Dropout, Identity, MLP, Checkpoint."""
import math
from collections import OrderedDict

from . import functional as F
from ..autograd.grad_mode import no_grad
from ..device import as_device
from ..tensor import TENSOR_TYPES, Tensor


class Parameter(Tensor):
    """A tensor that a Module registers as one of its parameters (requires grad by default)."""
    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if not isinstance(data, Tensor):
            from ..factories import tensor
            data = tensor(data)
        super().__init__(data._data, data._device)
        self.requires_grad = requires_grad

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


TENSOR_TYPES.add(Parameter)


class Module:
    """Base class: assigning a Parameter or a Module as an attribute registers it."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() before assigning "
                               f"attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- traversal ------------------------------------------------------------------------------------------------
    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_prefix}.{name}" if module_prefix else name), p

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    # --- modes and gradients ----------------------------------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # --- state ------------------------------------------------------------------------------------------------------
    def state_dict(self):
        """Name -> parameter values (detached tensors sharing memory with the parameters)."""
        return OrderedDict((name, p.detach()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters; names and shapes must match (clear errors otherwise)."""
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        wrong = [f"{k}: expected {tuple(own[k].shape)}, got {tuple(_shape(v))}" for k, v in state_dict.items()
                 if k in own and tuple(_shape(v)) != tuple(own[k].shape)]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if wrong:
            problems.append(f"shape mismatch for {'; '.join(wrong)}")
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(problems))
        with no_grad():
            for name, value in state_dict.items():
                if name in own:
                    own[name].copy_(value if isinstance(value, Tensor) else wrap_array(value, own[name]))
        return self

    def to(self, *args, **kwargs):
        """Move (or cast) every parameter in place, keeping the Parameter objects (optimizers hold them)."""
        for p in self.parameters():
            moved = Tensor.to(p.detach(), *args, **kwargs)
            p._data, p._device = moved._data, moved._device
            if p.grad is not None:
                g = Tensor.to(p.grad, *args, **kwargs)
                p._grad = g
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(as_device("cuda" if device is None else device))

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, module in self._modules.items():
            inner = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {inner}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def _shape(value):
    return value.shape if hasattr(value, "shape") else ()


def wrap_array(value, like):
    from ..factories import tensor
    return tensor(value, dtype=like.dtype, device=like.device)


class Linear(Module):
    """y = activation(x @ weight.T + bias), one fused node; PyTorch's initialisation U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features, out_features, bias=True, activation=None, device=None, dtype=None):
        super().__init__()
        from ..factories import rand
        if activation not in F.ACTIVATIONS:
            raise ValueError(f"Linear: activation must be one of {F.ACTIVATIONS}, got {activation!r}")
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        self.weight = Parameter((rand(out_features, in_features, dtype=dtype, device=device) * 2 - 1) * bound)
        self.bias = Parameter((rand(out_features, dtype=dtype, device=device) * 2 - 1) * bound) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias, self.activation)

    def extra_repr(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}{act}"


class Sequential(Module):
    """Modules (or any callables wrapped as modules) applied in order."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())


def _activation_module(name, fn):
    def forward(self, x):
        return fn(x)
    return type(name, (Module,), {"forward": forward, "__doc__": f"{name} as a module."})


ReLU = _activation_module("ReLU", F.relu)
Tanh = _activation_module("Tanh", F.tanh)
Sigmoid = _activation_module("Sigmoid", F.sigmoid)


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)


class Identity(Module):
    def forward(self, x):
        return x


class Dropout(Module):
    """Zeroes elements with probability p while training; the identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Checkpoint(Module):
    """Runs the wrapped module under gpuad.checkpoint: its activations are recomputed in backward, not kept."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args):
        from ..autograd.checkpoint import checkpoint
        return checkpoint(self.module, *args)


class MLP(Module):
    """A multilayer perceptron: ``sizes = [in, hidden..., out]``, fused linear + activation for every hidden layer,
    optional dropout, a plain linear output layer; ``checkpoint_segments=k`` checkpoints the layers in k segments."""

    def __init__(self, sizes, activation="relu", dropout=0.0, checkpoint_segments=None, device=None, dtype=None):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            layers.append(Linear(a, b, activation=None if last else activation, device=device, dtype=dtype))
            if dropout and not last:
                layers.append(Dropout(dropout))
        self.layers = Sequential(*layers)
        if checkpoint_segments is not None and not 1 <= checkpoint_segments <= len(layers):
            raise ValueError(f"MLP: checkpoint_segments must be between 1 and {len(layers)}, got "
                             f"{checkpoint_segments}")
        self.checkpoint_segments = checkpoint_segments

    def forward(self, x):
        if self.checkpoint_segments is None:
            return self.layers(x)
        from ..autograd.checkpoint import checkpoint_sequential
        return checkpoint_sequential(self.layers, self.checkpoint_segments, x)
