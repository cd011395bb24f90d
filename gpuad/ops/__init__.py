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
from .. import dtypes
from .._autograd import graph as _graph
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

# Tensor methods that need a layer above tensor.py: conversion, and hooks on the graph's nodes
Tensor.to = convert.to
Tensor.register_hook = _graph.register_hook
Tensor.register_post_accumulate_grad_hook = _graph.register_post_accumulate_grad_hook

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


# --- the Tensor API people type (ops/indexing, sorting, math_extra, reduce_extra, shape_extra, linalg, einsum,
# linalg_decomp, random_ops): functions as gpuad.<name>, Tensor methods where PyTorch has them, out= where it takes it
from . import (einsum as _einsum_module, indexing, linalg_decomp, math_extra, random_ops, reduce_extra,  # noqa: E402
               return_types, shape_extra, sorting)
from .einsum import einsum  # noqa: E402,F401
from .indexing import (argwhere, count_nonzero, gather, index_add, index_fill, index_select, masked_fill,  # noqa: E402,F401,E501
                       masked_select, nonzero, scatter, scatter_add, take_along_dim)
from .linalg import (addbmm, addmm, addmv, addr, baddbmm, bmm, cdist, diag, diag_embed, diagonal, inner,  # noqa: E402,F401,E501
                     matrix_power, multi_dot, mv, trace, tril, triu)
from .linalg_decomp import det, logdet, pinv, slogdet  # noqa: E402,F401
from .math_extra import (acos, acosh, allclose, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh,  # noqa: E402,F401,E501
                         asin, asinh, atan, atan2, atanh, clamp_max, clamp_min, cosh, digamma, div, entr, equal, erfc,
                         erfinv, exp2, expm1, fix, float_power, fmod, frac, hypot, i0, isclose, lerp, lgamma, log10,
                         log2, logaddexp, logaddexp2, logit, nan_to_num, polygamma, reciprocal, rsqrt, sgn, sinc,
                         sinh, square, trunc, xlog1py, xlogy)
from .random_ops import bernoulli, multinomial, normal, poisson, randint_like, randperm  # noqa: E402,F401
from .reduce_extra import (aminmax, cumprod, logcumsumexp, nanmean, nanquantile, nansum, prod, quantile,  # noqa: E402,F401,E501
                           std_mean, var_mean)
from .shape_extra import (atleast_1d, atleast_2d, atleast_3d, cartesian_prod, column_stack, diff, dstack,  # noqa: E402,F401,E501
                          hstack, meshgrid, moveaxis, movedim, repeat_interleave, roll, rot90, row_stack, tile,
                          unflatten, vstack)
from .sorting import (argsort, bincount, bucketize, cummax, cummin, histc, kthvalue, median, mode, msort,  # noqa: E402,F401,E501
                      nanmedian, searchsorted, sort, topk, unique, unique_consecutive)
from .more_api import (addcdiv, addcmul, dist, fliplr, flipud, fmax, fmin, gcd, heaviside, index_copy,  # noqa: E402,F401,E501
                       index_put, isneginf, isposinf, isreal, kron, lcm, ldexp, masked_scatter, ravel, scatter_reduce,
                       signbit, swapdims, t, take, vdot)
from .out_arg import with_out as _with_out  # noqa: E402
from . import more_api  # noqa: E402
divide = div
pinverse = linalg_decomp.pinv


def where(condition, input=None, other=None):  # noqa: A002 - PyTorch's argument names
    """where(condition, input, other): ``input`` where condition holds, else ``other``. where(condition) alone:
    nonzero(condition, as_tuple=True)."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: expected where(condition) or where(condition, input, other)")
    return elementwise.where(condition, input, other)


def _method_where(self, condition, other):
    return elementwise.where(condition, self, other)


def _inplace(fn, name):
    def method(self, *args, **kwargs):
        inplace._check_target(self, name)
        return inplace.commit(self, fn(self, *args, **kwargs), name)
    method.__name__ = name
    method.__doc__ = f"In place: self = {fn.__name__}(self, ...)."
    return method


def _repeat_method(self, *sizes):
    return shape_extra.repeat(self, *sizes)


def _polygamma_method(self, n):
    return polygamma(n, self)


def _bernoulli_method(self, p=None, *, generator=None):
    return bernoulli(self, p, generator=generator)


_NEW_METHODS = [
    "gather", "scatter", "scatter_add", "index_select", "index_add", "index_fill", "masked_fill", "masked_select",
    "nonzero", "argwhere", "take_along_dim", "count_nonzero", "sort", "argsort", "msort", "topk", "kthvalue",
    "median", "nanmedian", "mode", "cummax", "cummin", "unique", "unique_consecutive", "bincount", "histc", "prod",
    "cumprod", "logcumsumexp", "nansum", "nanmean", "quantile", "nanquantile", "aminmax", "tile",
    "repeat_interleave", "roll", "diff", "movedim", "moveaxis", "rot90", "unflatten", "tril", "triu", "diag",
    "diagonal", "diag_embed", "trace", "inner", "bmm", "mv", "addmm", "addmv", "baddbmm", "addbmm", "addr", "lerp",
    "logaddexp", "logaddexp2", "reciprocal", "square", "rsqrt", "sgn", "nan_to_num", "isclose", "allclose", "equal",
    "clamp_min", "clamp_max", "expm1", "exp2", "log2", "log10", "sinh", "cosh", "asin", "acos", "atan", "arcsin",
    "arccos", "arctan", "asinh", "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "atan2", "arctan2", "hypot",
    "fmod", "trunc", "fix", "frac", "logit", "xlogy", "erfc", "erfinv", "lgamma", "digamma", "i0", "sinc",
    "float_power", "div", "divide", "det", "logdet", "slogdet", "matrix_power", "multinomial", "addcdiv",
    "addcmul", "dist", "fliplr", "flipud", "fmax", "fmin", "gcd", "heaviside", "index_copy", "index_put", "isneginf",
    "isposinf", "isreal", "kron", "lcm", "ldexp", "masked_scatter", "ravel", "scatter_reduce", "signbit",
    "swapdims", "t", "take", "vdot", "pinverse", "logical_xor",
]
for _name in _NEW_METHODS:
    setattr(Tensor, _name, globals()[_name])
for _name in ["uniform_", "normal_", "random_", "bernoulli_", "exponential_", "geometric_", "cauchy_", "log_normal_"]:
    setattr(Tensor, _name, getattr(random_ops, _name))
_NEW_INPLACE = {
    "scatter_": scatter, "scatter_add_": scatter_add, "index_add_": index_add, "index_fill_": index_fill,
    "masked_fill_": masked_fill, "tril_": tril, "triu_": triu, "clamp_min_": clamp_min, "clamp_max_": clamp_max,
    "lerp_": lerp, "nan_to_num_": nan_to_num, "abs_": abs, "log_": log, "log1p_": log1p, "log2_": log2,
    "expm1_": expm1, "sin_": sin, "cos_": cos, "floor_": floor, "ceil_": ceil, "round_": round, "trunc_": trunc,
    "frac_": frac, "square_": square, "reciprocal_": reciprocal, "rsqrt_": rsqrt, "sign_": sign, "fmod_": fmod,
    "remainder_": remainder, "atan2_": atan2, "hypot_": hypot, "logit_": logit, "erf_": erf, "erfinv_": erfinv,
    "clip_": clamp, "index_copy_": index_copy, "index_put_": index_put, "masked_scatter_": masked_scatter,
    "scatter_reduce_": scatter_reduce, "addcmul_": addcmul, "addcdiv_": addcdiv, "t_": t,
}
for _name, _fn in _NEW_INPLACE.items():
    if _fn is not None:
        setattr(Tensor, _name, _inplace(_fn, _name))
for _name in ("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "fill_diagonal_", "sum_to_size"):
    setattr(Tensor, _name, getattr(more_api, _name))
_plain_div_ = inplace.div_


def _div_(self, other, *, rounding_mode=None):
    """In place: self = div(self, other, rounding_mode=rounding_mode)."""
    if rounding_mode is None:
        return _plain_div_(self, other)
    return _inplace(div, "div_")(self, other, rounding_mode=rounding_mode)


Tensor.div_ = _div_
Tensor.repeat = _repeat_method
Tensor.where = _method_where
Tensor.polygamma = _polygamma_method
Tensor.bernoulli = _bernoulli_method
Tensor.inverse = linalg_decomp.inv
Tensor.cholesky = linalg_decomp.cholesky
Tensor.amax, Tensor.amin = amax, amin
Tensor.max, Tensor.min = reduce.max, reduce.min
inverse = linalg_decomp.inv

# out= on the functions (not the methods) that take it in PyTorch
_OUT_FUNCTIONS = [
    "abs", "acos", "acosh", "add", "addbmm", "addmm", "addmv", "addr", "asin", "asinh", "atan", "atan2", "atanh",
    "baddbmm", "bmm", "cat", "ceil", "clamp", "clip", "concat", "concatenate", "cos", "cosh", "cummax", "cummin",
    "cumprod", "cumsum", "diag", "digamma", "div", "divide", "dot", "eq", "erf", "erfc", "erfinv", "exp", "exp2",
    "expm1", "float_power", "floor", "floor_divide", "fmod", "frac", "gather", "ge", "gt", "hypot", "i0",
    "index_select", "inner", "kthvalue", "le", "lerp", "lgamma", "log", "log10", "log1p", "log2", "logaddexp",
    "logaddexp2", "logcumsumexp", "logical_and", "logical_not", "logical_or", "logical_xor", "logit", "logsumexp",
    "lt", "masked_select", "matmul", "max", "maximum", "mean", "median", "min", "minimum", "mm", "mode", "mul",
    "multiply", "mv", "nan_to_num", "nanmean", "nanmedian", "nanquantile", "nansum", "ne", "neg", "negative",
    "nonzero", "outer", "polygamma", "pow", "prod", "quantile", "reciprocal", "remainder", "round", "rsqrt",
    "sigmoid", "sign", "sgn", "sin", "sinc", "sinh", "sort", "sqrt", "square", "stack", "std", "sub", "subtract",
    "sum", "take_along_dim", "tan", "tanh", "topk", "tril", "triu", "true_divide", "trunc", "var", "xlogy",
    "amax", "amin", "argmax", "argmin", "all", "any", "histc", "bucketize", "searchsorted", "randperm", "normal",
    "bernoulli", "multinomial", "hstack", "vstack", "dstack", "column_stack", "diff", "addcdiv", "addcmul", "fmax",
    "fmin", "gcd", "heaviside", "kron", "lcm", "ldexp", "take", "signbit", "isposinf", "isneginf", "vdot",
]
for _name in _OUT_FUNCTIONS:
    globals()[_name] = _with_out(globals()[_name], _name)

__all__ = sorted(set(__all__) | {
    _n for _n, _v in list(globals().items())
    if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "").startswith("gpuad.ops.")
    and _n not in ("apply", "Op", "getitem", "sum_to_shape", "with_out")})
