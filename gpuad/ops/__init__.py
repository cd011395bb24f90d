"""All ops, and the table that makes them Tensor methods and operators (``a * b``, ``x.sum()``, ``x[i] = v``)."""
from . import convert, elementwise, inplace, linalg, reduce, shape
from .core import REGISTRY, Op, apply  # noqa: F401
from .elementwise import (abs, absolute, add, floor_divide, remainder, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clip,  # noqa: F401,A004,E501
                          cos, div, divide, eq, erf, exp, floor, ge, gelu, greater, greater_equal, gt, isfinite,
                          isinf, isnan, le, less, less_equal, log, log1p, logical_and, logical_not, logical_or,
                          logical_xor, lt, maximum, minimum, mul, multiply, ne, neg, negative, pow, relu, round,
                          rsqrt, sigmoid, sign, sin, softplus, sqrt, square, sub, subtract, tan, tanh, true_divide,
                          where)
from .linalg import dot, matmul, mm, outer  # noqa: F401
from .reduce import (cumsum, all, amax, amin, any, argmax, argmin, logsumexp, log_softmax, max, mean, min, norm,  # noqa: F401,A004,E501
                     softmax, std, sum, var)
from .shape import (flip, broadcast_tensors, broadcast_to, cat, chunk, clone, concat, concatenate, contiguous, expand,  # noqa: F401,E501
                    flatten, getitem, narrow, permute, reshape, select, split, squeeze, stack, sum_to_shape,
                    swapaxes, transpose, unbind, unsqueeze, view)
from ..tensor import Tensor

_METHODS = [
    "abs", "add", "ceil", "clamp", "clip", "cos", "div", "eq", "erf", "exp", "floor", "ge", "gelu", "gt", "isfinite",
    "isinf", "isnan", "le", "log", "log1p", "logical_and", "logical_not", "logical_or", "lt", "maximum", "minimum",
    "mul", "ne", "neg", "pow", "relu", "round", "rsqrt", "sigmoid", "sign", "sin", "softplus", "sqrt", "square", "sub",
    "tan", "tanh", "matmul", "dot", "mm", "outer", "all", "amax", "amin", "any", "argmax", "argmin", "logsumexp",
    "log_softmax", "max", "mean", "min", "norm", "softmax", "std", "sum", "var", "chunk", "clone", "contiguous",
    "expand", "flatten", "narrow", "permute", "reshape", "select", "split", "squeeze", "transpose", "swapaxes",
    "unbind", "unsqueeze", "view", "multiply", "subtract", "divide", "true_divide", "negative", "absolute",
    "flip", "cumsum", "remainder", "floor_divide",
]
for _name in _METHODS:
    setattr(Tensor, _name, globals()[_name])

for _name in ["add_", "sub_", "mul_", "div_", "pow_", "relu_", "clamp_", "exp_", "neg_", "sigmoid_", "tanh_", "sqrt_",
              "fill_", "zero_", "copy_"]:
    setattr(Tensor, _name, getattr(inplace, _name))


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _expand_as(self, other):
    return expand(self, other.shape)


def _view_as(self, other):
    return reshape(self, other.shape)


def _type_as(self, other):
    return self.to(other.dtype)


def _cast(dtype_name):
    from .. import dtypes
    dtype = getattr(dtypes, dtype_name)
    return lambda self: self.to(dtype)


_OPERATORS = {
    "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div, "__rtruediv__": _reflected(div),
    "__pow__": pow, "__rpow__": _reflected(pow), "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__floordiv__": floor_divide, "__rfloordiv__": _reflected(floor_divide),
    "__mod__": remainder, "__rmod__": _reflected(remainder),
    "__neg__": neg, "__pos__": lambda self: self, "__abs__": abs,
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__and__": bitwise_and, "__or__": bitwise_or, "__xor__": bitwise_xor, "__invert__": bitwise_not,
    "__rand__": _reflected(bitwise_and), "__ror__": _reflected(bitwise_or), "__rxor__": _reflected(bitwise_xor),
    "__iadd__": inplace.add_, "__isub__": inplace.sub_, "__imul__": inplace.mul_, "__itruediv__": inplace.div_,
    "__getitem__": getitem, "__setitem__": inplace.setitem,
    "T": property(shape.T), "mT": property(shape.mT),
    "expand_as": _expand_as, "view_as": _view_as, "reshape_as": _view_as, "type_as": _type_as,
    "float": _cast("float32"), "double": _cast("float64"), "half": _cast("float16"), "long": _cast("int64"),
    "int": _cast("int32"), "bool": _cast("bool"),
}
for _name, _fn in _OPERATORS.items():
    setattr(Tensor, _name, _fn)

__all__ = sorted(_n for _n, _v in list(globals().items())
                 if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "").startswith("gpuad.ops.")
                 and _n not in ("apply", "Op", "getitem", "sum_to_shape"))
