"""The Tensor API ops against PyTorch: each row of the table runs the same code with ``L = gpuad`` and ``L = torch``
and compares the values, dtypes and shapes of every output and, where PyTorch's result is differentiable, the
float64 gradients of a random weighting of the outputs (to 1e-10)."""
import math

import numpy as np
import pytest

import gpuad as G

torch = pytest.importorskip("torch")

F64 = "float64"


def _data(spec, rng):
    kind, shape = spec[0], spec[1]
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "positive":
        return np.abs(rng.standard_normal(shape)) + 0.5
    if kind == "unit":  # inside (-1, 1)
        return np.tanh(rng.standard_normal(shape)) * 0.9
    if kind == "prob":
        return rng.uniform(0.05, 0.95, shape)
    if kind == "ties":  # small integers as floats: many ties
        return rng.integers(0, 3, shape).astype(np.float64)
    if kind == "int":
        return rng.integers(-5, 6, shape)
    if kind == "count":
        return rng.integers(0, 5, shape)
    if kind == "bool":
        return rng.random(shape) > 0.5
    if kind == "spd":
        a = rng.standard_normal(shape)
        return a @ np.swapaxes(a, -1, -2) + np.eye(shape[-1])
    if kind == "well":
        return rng.standard_normal(shape) + 3 * np.eye(shape[-1])
    if kind == "zeros":
        x = rng.standard_normal(shape)
        x.reshape(-1)[::3] = 0.0
        return x
    if kind == "special":
        return np.array([0.5, float("nan"), float("inf"), -float("inf"), -2.0, 0.0])
    raise ValueError(kind)


def N(*shape):  # noqa: N802 - short names keep the table readable
    return ("normal", shape)


def P(*shape):  # noqa: N802
    return ("positive", shape)


def U(*shape):  # noqa: N802
    return ("unit", shape)


def I(*shape):  # noqa: N802,E743
    return ("int", shape)


def B(*shape):  # noqa: N802
    return ("bool", shape)


# (id, function of (L, *inputs), input specs)
CASES = [
    # --- comparisons ---
    ("isclose", lambda L, a, b: L.isclose(a, a + b * 1e-6), [N(3, 4), N(3, 4)]),
    ("isclose-tol", lambda L, a, b: L.isclose(a, a + b * 1e-3, rtol=0, atol=2e-3), [N(3, 4), N(3, 4)]),
    ("isclose-nan", lambda L, a: L.isclose(a, a, equal_nan=True), [("special", None)]),
    ("isclose-nan-off", lambda L, a: L.isclose(a, a), [("special", None)]),
    ("allclose", lambda L, a, b: L.tensor(L.allclose(a, a + b * 1e-9)), [N(3), N(3)]),
    ("equal", lambda L, a: L.tensor([L.equal(a, a), L.equal(a, a + 1), L.equal(a, a[:1])]), [N(3)]),
    # --- selection along a dim ---
    ("gather0", lambda L, a: L.gather(a, 0, L.tensor([[0, 2, 1, 1], [2, 2, 0, 1]])), [N(3, 4)]),
    ("gather1", lambda L, a: a.gather(1, L.tensor([[3], [0], [1]])), [N(3, 4)]),
    ("gather-smaller", lambda L, a: a.gather(0, L.tensor([[1, 0]])), [N(3, 4)]),
    ("scatter", lambda L, a, s: a.scatter(1, L.tensor([[0, 3], [1, 2], [2, 0]]), s), [N(3, 4), N(3, 2)]),
    ("scatter-value", lambda L, a: L.scatter(a, 0, L.tensor([[2, 0, 1, 0]]), 7.0), [N(3, 4)]),
    ("scatter-src-larger", lambda L, a, s: a.scatter(0, L.tensor([[1, 2]]), s.detach()), [N(3, 4), N(2, 3)]),
    ("scatter_add", lambda L, a, s: L.scatter_add(a, 0, L.tensor([[0, 2, 2, 1], [1, 1, 0, 0]]), s),
     [N(3, 4), N(2, 4)]),
    ("scatter-reduce-add", lambda L, a, s: a.detach().scatter(0, L.tensor([[0, 0, 1, 1]]), s.detach(), reduce="add"),
     [N(3, 4), N(1, 4)]),
    ("scatter-int", lambda L, a: L.zeros(3, 4, dtype=L.int64).scatter_(1, L.tensor([[1], [0], [3]]), 1),
     [N(1)]),
    ("index_select", lambda L, a: L.index_select(a, 1, L.tensor([3, 0, 0])), [N(3, 4)]),
    ("index_add", lambda L, a, s: a.index_add(0, L.tensor([0, 2, 0]), s, alpha=2.0), [N(3, 2), N(3, 2)]),
    ("index_fill", lambda L, a: a.index_fill(1, L.tensor([0, 2]), -1.5), [N(3, 4)]),
    ("masked_fill", lambda L, a: a.masked_fill(a > 0, 0.25), [N(3, 4)]),
    ("masked_fill-broadcast", lambda L, a, m: L.masked_fill(a, m, -1.0), [N(3, 4), B(4)]),
    ("masked_fill-tensor-value", lambda L, a, v: a.masked_fill(a < 0, v), [N(3, 4), N()]),
    ("masked_fill-int", lambda L, a: a.masked_fill(a > 0, 9), [I(3, 4)]),
    ("masked_select", lambda L, a: L.masked_select(a, a > 0.1), [N(3, 4)]),
    ("masked_select-broadcast", lambda L, a, m: a.masked_select(m), [N(3, 4), B(4)]),
    ("nonzero", lambda L, a: L.nonzero(a > 0), [N(3, 4)]),
    ("nonzero-tuple", lambda L, a: L.nonzero(a > 0, as_tuple=True), [N(3, 4)]),
    ("nonzero-0d", lambda L, a: L.nonzero(a[0, 0] * 0 + 1), [N(3, 4)]),
    ("argwhere", lambda L, a: L.argwhere(a), [I(4, 3)]),
    ("where-1arg", lambda L, a: L.where(a > 0), [N(2, 3, 2)]),
    ("where-method", lambda L, a, b: a.where(a > 0, b), [N(3, 4), N(4)]),
    ("take_along_dim", lambda L, a: L.take_along_dim(a, L.tensor([[1], [0], [3]]), 1), [N(3, 4)]),
    ("take_along_dim-flat", lambda L, a: L.take_along_dim(a, L.tensor([5, 0])), [N(3, 4)]),
    ("count_nonzero", lambda L, a: L.count_nonzero(a), [I(3, 4)]),
    ("count_nonzero-dim", lambda L, a: a.count_nonzero(dim=1), [I(3, 4)]),
    # --- max/min with indices, sorting ---
    ("max-dim", lambda L, a: a.max(1), [N(3, 4)]),
    ("max-keepdim", lambda L, a: L.max(a, dim=0, keepdim=True), [N(3, 4)]),
    ("max-neg-dim", lambda L, a: L.max(a, -1), [N(2, 3, 4)]),
    ("max-all", lambda L, a: a.max(), [N(3, 4)]),
    ("max-ties", lambda L, a: a.max(1), [("ties", (4, 5))]),
    ("max-int", lambda L, a: a.max(0), [I(3, 4)]),
    ("max-elementwise", lambda L, a, b: L.max(a, b), [N(3, 4), N(4)]),
    ("min-dim", lambda L, a: a.min(dim=1), [N(3, 4)]),
    ("min-elementwise", lambda L, a, b: a.min(b), [N(3, 4), N(3, 1)]),
    ("max-nan", lambda L, a: a.max(0), [("special", None)]),
    ("sort", lambda L, a: a.sort(), [N(3, 4)]),
    ("sort-desc", lambda L, a: L.sort(a, 0, descending=True), [N(3, 4)]),
    ("sort-stable-ties", lambda L, a: a.sort(dim=1, stable=True), [("ties", (3, 6))]),
    ("sort-stable-desc-ties", lambda L, a: L.sort(a, dim=1, descending=True, stable=True), [("ties", (3, 6))]),
    ("sort-nan", lambda L, a: a.sort(), [("special", None)]),
    ("sort-nan-desc", lambda L, a: a.sort(descending=True), [("special", None)]),
    ("sort-int", lambda L, a: a.sort(dim=0, stable=True), [I(5, 2)]),
    ("argsort", lambda L, a: a.argsort(1), [N(3, 4)]),
    ("argsort-desc", lambda L, a: L.argsort(a, dim=0, descending=True), [N(3, 4)]),
    ("msort", lambda L, a: L.msort(a), [N(3, 4)]),
    ("topk", lambda L, a: a.topk(2), [N(3, 4)]),
    ("topk-smallest", lambda L, a: L.topk(a, 3, dim=0, largest=False), [N(4, 3)]),
    ("kthvalue", lambda L, a: a.kthvalue(2, 1), [N(3, 4)]),
    ("kthvalue-keepdim", lambda L, a: L.kthvalue(a, 3, 0, keepdim=True), [N(4, 3)]),
    ("median-all", lambda L, a: a.median(), [N(7)]),
    ("median-even", lambda L, a: a.median(), [N(3, 4)]),
    ("median-dim", lambda L, a: a.median(1), [N(3, 5)]),
    ("median-nan", lambda L, a: a.reshape(2, 3).median(1).values, [("special", None)]),
    ("nanmedian", lambda L, a: a.reshape(2, 3).nanmedian(1).values, [("special", None)]),
    ("mode", lambda L, a: a.mode(1), [("ties", (4, 7))]),
    ("cummax", lambda L, a: a.cummax(1), [N(3, 5)]),
    ("cummax-ties", lambda L, a: L.cummax(a, 0), [("ties", (6, 2))]),
    ("cummin", lambda L, a: a.cummin(0), [N(4, 3)]),
    ("cummin-ties", lambda L, a: L.cummin(a, 1), [("ties", (2, 6))]),
    ("unique", lambda L, a: L.unique(a), [("count", (4, 5))]),
    ("unique-all", lambda L, a: L.unique(a, return_inverse=True, return_counts=True), [("count", (4, 5))]),
    ("unique-dim", lambda L, a: L.unique(a, dim=0, return_inverse=True, return_counts=True),
     [("count", (6, 1))]),
    ("unique_consecutive", lambda L, a: L.unique_consecutive(a.reshape(-1), return_inverse=True,
                                                             return_counts=True), [("count", (4, 5))]),
    ("bincount", lambda L, a: L.bincount(a.reshape(-1)), [("count", (4, 5))]),
    ("bincount-weights", lambda L, a, w: L.bincount(a.reshape(-1), w.detach().reshape(-1), minlength=8),
     [("count", (4, 5)), N(4, 5)]),
    ("histc", lambda L, a: L.histc(a, bins=5), [N(40)]),
    ("histc-range", lambda L, a: a.histc(4, min=-1, max=1), [N(40)]),
    ("searchsorted", lambda L, s, v: L.searchsorted(s.sort().values, v), [N(6), N(3, 4)]),
    ("searchsorted-right", lambda L, s: L.searchsorted(s.sort().values, s, right=True), [("ties", (8,))]),
    ("bucketize", lambda L, v: L.bucketize(v, L.tensor([-1.0, 0.0, 1.0], dtype=L.float64)), [N(10)]),
    # --- reductions and scans ---
    ("prod", lambda L, a: a.prod(), [N(5)]),
    ("prod-dim", lambda L, a: L.prod(a, 1, keepdim=True), [N(3, 4)]),
    ("prod-zeros", lambda L, a: a.prod(0), [("zeros", (4, 3))]),
    ("prod-int", lambda L, a: a.prod(1), [I(3, 4)]),
    ("cumprod", lambda L, a: a.cumprod(1), [N(3, 4)]),
    ("cumprod-zeros", lambda L, a: L.cumprod(a, 0), [("zeros", (7,))]),
    ("logcumsumexp", lambda L, a: a.logcumsumexp(1), [N(3, 5)]),
    ("logcumsumexp-wide", lambda L, a: L.logcumsumexp(a * 200, 0), [N(6)]),
    ("amax", lambda L, a: a.amax((0, 2)), [N(2, 3, 4)]),
    ("amin-ties", lambda L, a: a.amin(1), [("ties", (3, 4))]),
    ("aminmax", lambda L, a: L.aminmax(a, dim=1), [N(3, 4)]),
    ("std_mean", lambda L, a: L.std_mean(a, 1), [N(3, 4)]),
    ("var_mean", lambda L, a: L.var_mean(a, dim=0, correction=0, keepdim=True), [N(3, 4)]),
    ("nansum", lambda L, a: L.nansum(a.reshape(2, 3)[:, :2], 1), [("special", None)]),
    ("nanmean", lambda L, a: L.nanmean(a), [N(3, 4)]),
    ("quantile", lambda L, a: L.quantile(a, 0.3), [N(3, 4)]),
    ("quantile-dim", lambda L, a: a.quantile(L.tensor([0.1, 0.5, 0.9], dtype=L.float64), dim=1, keepdim=True),
     [N(3, 5)]),
    *[(f"quantile-{m}", lambda L, a, m=m: L.quantile(a, 0.4, dim=0, interpolation=m), [N(6, 2)])
      for m in ("lower", "higher", "nearest", "midpoint")],
    ("nanquantile", lambda L, a: L.nanquantile(a.reshape(2, 3)[:, :2], 0.5, dim=1), [("special", None)]),
    # --- shape ---
    ("repeat", lambda L, a: a.repeat(2, 3), [N(2, 3)]),
    ("repeat-new-dims", lambda L, a: a.repeat(2, 1, 2), [N(3)]),
    ("tile", lambda L, a: L.tile(a, (2,)), [N(2, 3)]),
    ("repeat_interleave", lambda L, a: a.repeat_interleave(2), [N(2, 3)]),
    ("repeat_interleave-dim", lambda L, a: L.repeat_interleave(a, L.tensor([1, 0, 3]), dim=1), [N(2, 3)]),
    ("repeat_interleave-counts", lambda L, a: L.repeat_interleave(L.tensor([2, 0, 1])), [N(1)]),
    ("roll", lambda L, a: a.roll(1), [N(3, 4)]),
    ("roll-dims", lambda L, a: L.roll(a, (2, -1), (0, 1)), [N(3, 4)]),
    ("flip", lambda L, a: a.flip(0, 1), [N(3, 4)]),
    ("flip-dims", lambda L, a: L.flip(a, dims=(0,)), [N(3, 4)]),
    ("tril", lambda L, a: a.tril(), [N(3, 4)]),
    ("tril-k", lambda L, a: L.tril(a, -1), [N(2, 4, 3)]),
    ("triu", lambda L, a: L.triu(a, 1), [N(4, 3)]),
    ("diag-1d", lambda L, a: L.diag(a, 1), [N(3)]),
    ("diag-2d", lambda L, a: L.diag(a, -1), [N(3, 4)]),
    ("diagonal", lambda L, a: a.diagonal(), [N(3, 4)]),
    ("diagonal-dims", lambda L, a: L.diagonal(a, 1, 0, 2), [N(3, 2, 4)]),
    ("diag_embed", lambda L, a: L.diag_embed(a), [N(2, 3)]),
    ("diag_embed-dims", lambda L, a: L.diag_embed(a, -1, 0, 2), [N(2, 3)]),
    ("diagonal-view-write", lambda L, a: _write_diagonal(L, a), [N(3, 4)]),
    ("trace", lambda L, a: a.trace(), [N(3, 4)]),
    ("meshgrid-ij", lambda L, a, b: L.meshgrid(a, b, indexing="ij"), [N(3), N(2)]),
    ("meshgrid-xy", lambda L, a, b, c: L.meshgrid(a, b, c, indexing="xy"), [N(3), N(2), N(4)]),
    ("cartesian_prod", lambda L, a, b: L.cartesian_prod(a, b), [N(3), N(2)]),
    ("diff", lambda L, a: a.diff(), [N(3, 4)]),
    ("diff-n2", lambda L, a, p: L.diff(a, n=2, dim=0, prepend=p), [N(4, 3), N(1, 3)]),
    ("diff-append", lambda L, a, q: L.diff(a, append=q), [N(5), N(2)]),
    ("movedim", lambda L, a: L.movedim(a, (0, 1), (2, 0)), [N(2, 3, 4)]),
    ("rot90", lambda L, a: L.rot90(a), [N(2, 3)]),
    ("rot90-k", lambda L, a: a.rot90(3, (1, 2)) if L is torch else a.rot90(3, (1, 2)), [N(2, 3, 4)]),
    ("unflatten", lambda L, a: a.unflatten(1, (2, -1)), [N(3, 6)]),
    ("hstack", lambda L, a, b: L.hstack([a, b]), [N(2, 3), N(2, 1)]),
    ("vstack", lambda L, a, b: L.vstack([a, b]), [N(3), N(2, 3)]),
    ("dstack", lambda L, a, b: L.dstack([a, b]), [N(2, 3), N(2, 3)]),
    ("column_stack", lambda L, a, b: L.column_stack([a, b]), [N(3), N(3, 2)]),
    # --- matrix products ---
    ("outer", lambda L, a, b: L.outer(a, b), [N(3), N(4)]),
    ("inner", lambda L, a, b: L.inner(a, b), [N(2, 4), N(3, 4)]),
    ("bmm", lambda L, a, b: L.bmm(a, b), [N(2, 3, 4), N(2, 4, 5)]),
    ("mm", lambda L, a, b: a.mm(b), [N(3, 4), N(4, 2)]),
    ("mv", lambda L, a, b: L.mv(a, b), [N(3, 4), N(4)]),
    ("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0), [N(3, 2), N(3, 4), N(4, 2)]),
    ("addmm-bcast", lambda L, c, a, b: c.addmm(a, b) if L is torch else L.addmm(c, a, b), [N(2), N(3, 4), N(4, 2)]),
    ("addmv", lambda L, c, a, b: L.addmv(c, a, b), [N(3), N(3, 4), N(4)]),
    ("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b, alpha=0.5), [N(2, 3, 2), N(2, 3, 4), N(2, 4, 2)]),
    ("baddbmm-beta0", lambda L, c, a, b: L.baddbmm(c.detach() * float("nan"), a, b, beta=0),
     [N(2, 3, 2), N(2, 3, 4), N(2, 4, 2)]),
    ("addbmm", lambda L, c, a, b: L.addbmm(c, a, b), [N(3, 2), N(2, 3, 4), N(2, 4, 2)]),
    ("addr", lambda L, c, a, b: L.addr(c, a, b), [N(3, 4), N(3), N(4)]),
    ("einsum-mm", lambda L, a, b: L.einsum("ij,jk->ik", a, b), [N(3, 4), N(4, 2)]),
    ("einsum-batch", lambda L, a, b: L.einsum("bij,bjk->bik", a, b), [N(2, 3, 4), N(2, 4, 5)]),
    ("einsum-trace", lambda L, a: L.einsum("ii", a), [N(3, 3)]),
    ("einsum-diag", lambda L, a: L.einsum("ii->i", a), [N(3, 3)]),
    ("einsum-transpose", lambda L, a: L.einsum("ijk->kji", a), [N(2, 3, 4)]),
    ("einsum-outer", lambda L, a, b: L.einsum("i,j->ij", a, b), [N(3), N(2)]),
    ("einsum-implicit", lambda L, a, b: L.einsum("ij,jk", a, b), [N(3, 4), N(4, 2)]),
    ("einsum-ellipsis", lambda L, a, b: L.einsum("...ij,...jk->...ik", a, b), [N(2, 3, 4), N(4, 2)]),
    ("einsum-three", lambda L, a, b, c: L.einsum("i,ij,j->", a, b, c), [N(3), N(3, 4), N(4)]),
    ("einsum-bilinear", lambda L, x, w, y: L.einsum("bi,oij,bj->bo", x, w, y), [N(2, 3), N(4, 3, 5), N(2, 5)]),
    ("einsum-list", lambda L, a, b: L.einsum("ij,ij->i", [a, b]), [N(3, 4), N(3, 4)]),
    ("einsum-sum-only", lambda L, a, b: L.einsum("ij,k->i", a, b), [N(3, 4), N(2)]),
    ("cdist", lambda L, a, b: L.cdist(a, b), [N(4, 3), N(5, 3)]),
    ("cdist-p1", lambda L, a, b: L.cdist(a, b, p=1.0), [N(2, 4, 3), N(2, 5, 3)]),
    ("cdist-p3", lambda L, a, b: L.cdist(a, b, p=3.0), [N(4, 3), N(2, 3)]),
    ("cdist-inf", lambda L, a, b: L.cdist(a, b, p=float("inf")), [N(4, 3), N(2, 3)]),
    # --- elementwise math ---
    *[(name, lambda L, a, name=name: getattr(L, name)(a), [N(2, 3)])
      for name in ("expm1", "exp2", "sinh", "cosh", "atan", "asinh", "trunc", "frac", "square", "sign", "sgn",
                   "erfc", "i0", "sinc", "sigmoid")],
    *[(name, lambda L, a, name=name: getattr(L, name)(a), [P(2, 3)])
      for name in ("log2", "log10", "rsqrt", "reciprocal", "lgamma", "digamma")],
    *[(name, lambda L, a, name=name: getattr(L, name)(a), [U(2, 3)])
      for name in ("asin", "acos", "atanh", "erfinv", "arcsin")],
    ("acosh", lambda L, a: L.acosh(a + 1), [P(5)]),
    ("polygamma", lambda L, a: L.polygamma(2, a), [P(5)]),
    ("logit", lambda L, a: L.logit(a), [("prob", (5,))]),
    ("logit-eps", lambda L, a: a.logit(eps=0.2), [("prob", (8,))]),
    ("reciprocal-int", lambda L, a: L.reciprocal(a * 0 + 2), [I(3)]),
    ("exp2-int", lambda L, a: L.exp2(a), [I(3)]),
    ("square-int", lambda L, a: L.square(a), [I(3)]),
    ("sign-int", lambda L, a: L.sign(a), [I(6)]),
    ("trunc-int", lambda L, a: L.trunc(a), [I(3)]),
    ("nan_to_num", lambda L, a: L.nan_to_num(a), [("special", None)]),
    ("nan_to_num-args", lambda L, a: a.nan_to_num(nan=1.0, posinf=9.0, neginf=-9.0), [("special", None)]),
    ("nan_to_num-grad", lambda L, a: L.nan_to_num(a), [N(5)]),
    ("isnan", lambda L, a: L.stack([L.isnan(a), L.isinf(a), L.isfinite(a)]), [("special", None)]),
    ("clamp_min", lambda L, a: L.clamp_min(a, 0.1), [N(3, 4)]),
    ("clamp_max", lambda L, a: a.clamp_max(-0.2), [N(3, 4)]),
    ("clamp-tensors", lambda L, a, lo, hi: L.clamp(a, min=lo, max=lo + hi.abs()), [N(3, 4), N(4), N(3, 1)]),
    ("atan2", lambda L, a, b: L.atan2(a, b), [N(3, 4), N(4)]),
    ("atan2-int", lambda L, a, b: L.atan2(a, b), [I(3), I(3)]),
    ("hypot", lambda L, a, b: L.hypot(a, b), [N(3, 4), N(3, 1)]),
    ("fmod", lambda L, a, b: L.fmod(a, b.abs() + 0.5), [N(3, 4), N(4)]),
    ("fmod-int", lambda L, a: L.fmod(a, 3), [I(6)]),
    ("fmod-scalar", lambda L, a: a.fmod(-1.5), [N(6)]),
    ("xlogy", lambda L, a, b: L.xlogy(a, b), [N(3, 4), P(4)]),
    ("xlogy-zero", lambda L, a, b: L.xlogy(a * 0, b), [N(4), P(4)]),
    ("xlogy-scalar", lambda L, b: L.xlogy(2.0, b), [P(4)]),
    ("logaddexp", lambda L, a, b: L.logaddexp(a, b), [N(3, 4), N(4)]),
    ("logaddexp2", lambda L, a, b: a.logaddexp2(b), [N(3, 4), N(3, 1)]),
    ("logaddexp-inf", lambda L, a: L.logaddexp(a, a), [("special", None)]),
    ("lerp", lambda L, a, b: L.lerp(a, b, 0.3), [N(3, 4), N(3, 4)]),
    ("lerp-tensor-weight", lambda L, a, b, w: a.lerp(b, w), [N(3, 4), N(4), N(3, 1)]),
    ("float_power", lambda L, a: L.float_power(a, 2), [P(3)]),
    ("div-trunc", lambda L, a, b: L.div(a, b, rounding_mode="trunc"), [N(3, 4), N(4)]),
    ("div-floor", lambda L, a, b: a.div(b, rounding_mode="floor"), [N(3, 4), N(4)]),
    ("div-trunc-int", lambda L, a: L.div(a, 2, rounding_mode="trunc"), [I(8)]),
    ("div-floor-int", lambda L, a: L.div(a, -3, rounding_mode="floor"), [I(8)]),
    ("div-true-int", lambda L, a: L.div(a, 2), [I(8)]),
    ("divide-trunc", lambda L, a, b: L.divide(a, b + 1, rounding_mode="trunc"), [I(8), ("count", (8,)), ]),
    ("special-erfc", lambda L, a: L.special.erfc(a), [N(5)]),
    ("special-expit", lambda L, a: L.special.expit(a), [N(5)]),
    ("special-xlog1py", lambda L, a, b: L.special.xlog1py(a, b), [N(5), P(5)]),
    ("special-ndtr", lambda L, a: L.special.ndtr(a), [N(5)]),
    ("special-ndtri", lambda L, a: L.special.ndtri(a), [("prob", (5,))]),
    ("special-log_ndtr", lambda L, a: L.special.log_ndtr(a), [N(5)]),
    ("special-entr", lambda L, a: L.special.entr(a), [N(6)]),
    ("special-gammaln", lambda L, a: L.special.gammaln(a), [P(5)]),
    # --- the smaller names ---
    ("addcmul", lambda L, a, b, c: L.addcmul(a, b, c, value=0.5), [N(3, 4), N(4), N(3, 1)]),
    ("addcdiv", lambda L, a, b, c: a.addcdiv(b, c, value=-2), [N(3, 4), N(4), P(3, 1)]),
    ("dist", lambda L, a, b: L.dist(a, b, 3), [N(3, 4), N(4)]),
    ("fmax", lambda L, a, b: L.fmax(a, b.flip(0)), [("special", None), ("special", None)]),
    ("fmin", lambda L, a, b: L.fmin(a, b), [N(3, 4), N(4)]),
    ("heaviside", lambda L, a: L.heaviside(a.detach().round(), L.tensor([0.5], dtype=L.float64)), [N(8)]),
    ("kron", lambda L, a, b: L.kron(a, b), [N(2, 3), N(3, 2)]),
    ("kron-ranks", lambda L, a, b: L.kron(a, b), [N(3), N(2, 2)]),
    ("ldexp", lambda L, a, b: L.ldexp(a, b), [N(4), ("count", (4,))]),  # PyTorch's gradient is 0 for b < 0
    ("take", lambda L, a: L.take(a, L.tensor([[0, 5], [11, 5]])), [N(3, 4)]),
    ("ravel-t", lambda L, a: (a.ravel(), a.t(), L.swapdims(a, 0, 1)), [N(3, 4)]),
    ("fliplr-flipud", lambda L, a: (L.fliplr(a), a.flipud()), [N(3, 4)]),
    ("vdot", lambda L, a, b: L.vdot(a, b), [N(4), N(4)]),
    ("index_copy", lambda L, a, s: a.index_copy(1, L.tensor([2, 0]), s), [N(3, 4), N(3, 2)]),
    ("index_put", lambda L, a, v: a.index_put((L.tensor([0, 2]), L.tensor([1, 3])), v), [N(3, 4), N(2)]),
    ("index_put-accumulate", lambda L, a, v: L.index_put(a, (L.tensor([0, 0, 2]),), v, accumulate=True),
     [N(3, 4), N(4)]),
    ("masked_scatter", lambda L, a, s: a.masked_scatter(a > 0, s), [N(3, 4), N(12)]),
    *[(f"scatter_reduce-{r}-{inc}", lambda L, a, s, r=r, inc=inc: a.scatter_reduce(
        0, L.tensor([[0, 1, 2, 0], [2, 2, 1, 0]]), s, r, include_self=inc), [N(3, 4), N(2, 4)])
      for r in ("sum", "mean", "amax", "amin") for inc in (True, False)],
    ("scatter_reduce-ties", lambda L, a, s: a.scatter_reduce(0, L.tensor([[0, 0, 1, 1]]), s, "amax"),
     [("ties", (2, 4)), ("ties", (1, 4))]),
    ("fill_diagonal_", lambda L, a: _fill_diagonal(L, a), [N(5, 3)]),
    ("predicates", lambda L, a: L.stack([L.isposinf(a), L.isneginf(a), L.signbit(a), L.isreal(a)]),
     [("special", None)]),
    ("gcd-lcm", lambda L, a, b: (L.gcd(a, b), L.lcm(a, b)), [I(6), I(6)]),
    ("new", lambda L, a: (a.new_zeros(2, 3), a.new_ones((2,)), a.new_full((2,), 3.5), a.new_tensor([1, 2])),
     [N(1)]),
    ("div_-rounding", lambda L, a: a.clone().div_(3, rounding_mode="floor"), [I(5)]),
    # --- linalg ---
    ("solve", lambda L, a, b: L.linalg.solve(a, b), [("well", (3, 3)), N(3, 2)]),
    ("solve-vector", lambda L, a, b: L.linalg.solve(a, b), [("well", (3, 3)), N(3)]),
    ("solve-batched-vector", lambda L, a, b: L.linalg.solve(a, b), [("well", (2, 3, 3)), N(2, 3)]),
    ("solve-broadcast", lambda L, a, b: L.linalg.solve(a, b), [("well", (3, 3)), N(4, 3, 2)]),
    ("solve-right", lambda L, a, b: L.linalg.solve(a, b, left=False), [("well", (3, 3)), N(2, 3)]),
    ("inv", lambda L, a: L.linalg.inv(a), [("well", (2, 3, 3))]),
    ("inverse", lambda L, a: a.inverse(), [("well", (3, 3))]),
    ("det", lambda L, a: L.linalg.det(a), [("well", (2, 3, 3))]),
    ("det-method", lambda L, a: a.det(), [N(3, 3)]),
    ("slogdet", lambda L, a: L.linalg.slogdet(a), [N(2, 3, 3)]),
    ("logdet", lambda L, a: L.logdet(a), [("spd", (3, 3))]),
    ("cholesky", lambda L, a: L.linalg.cholesky(a), [("spd", (2, 3, 3))]),
    ("cholesky-upper", lambda L, a: L.linalg.cholesky(a, upper=True), [("spd", (3, 3))]),
    ("matrix_power", lambda L, a: L.linalg.matrix_power(a, 3), [N(3, 3)]),
    ("matrix_power-neg", lambda L, a: L.linalg.matrix_power(a, -2), [("well", (3, 3))]),
    ("matrix_power-0", lambda L, a: L.linalg.matrix_power(a, 0), [N(2, 3, 3)]),
    ("multi_dot", lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), [N(3), N(3, 4), N(4, 2)]),
    ("lstsq", lambda L, a, b: L.linalg.lstsq(a, b).solution, [N(6, 3), N(6, 2)]),
    ("pinv", lambda L, a: L.linalg.pinv(a), [N(5, 3)]),
    ("matrix_rank", lambda L, a: L.linalg.matrix_rank(a), [N(4, 3)]),
    ("eigvalsh", lambda L, a: L.linalg.eigvalsh(a.detach()), [("spd", (3, 3))]),
    ("svdvals", lambda L, a: L.linalg.svdvals(a.detach()), [N(4, 3)]),
    ("cross", lambda L, a, b: L.linalg.cross(a, b), [N(4, 3), N(4, 3)]),
    ("vecdot", lambda L, a, b: L.linalg.vecdot(a, b), [N(4, 3), N(3)]),
    ("norm", lambda L, a: L.linalg.norm(a), [N(3, 4)]),
    ("norm-dim", lambda L, a: L.linalg.norm(a, dim=1, keepdim=True), [N(3, 4)]),
    ("norm-ord-vec", lambda L, a: L.linalg.norm(a, 3), [N(5)]),
    ("norm-ord-mat", lambda L, a: L.linalg.norm(a, "fro"), [N(3, 4)]),
    ("norm-ord-nuc", lambda L, a: L.linalg.norm(a.detach(), "nuc"), [N(3, 4)]),
    *[(f"vector_norm-{o}", lambda L, a, o=o: L.linalg.vector_norm(a, o, dim=(0, 1)), [N(3, 4)])
      for o in (1, 2, 3.5, -1, float("inf"), -float("inf"), 0)],
    *[(f"matrix_norm-{o}", lambda L, a, o=o: L.linalg.matrix_norm(a, o), [N(2, 3, 4)])
      for o in ("fro", 1, -1, float("inf"), -float("inf"))],
    *[(f"matrix_norm-{o}-nograd", lambda L, a, o=o: L.linalg.matrix_norm(a.detach(), o), [N(2, 3, 4)])
      for o in (2, -2, "nuc")],
    ("matrix_norm-dims", lambda L, a: L.linalg.matrix_norm(a, 1, dim=(2, 0), keepdim=True), [N(2, 3, 4)]),
]


def _write_diagonal(L, a):
    """Writing through diagonal() changes the tensor, as in PyTorch (the diagonal is a view)."""
    x = a.detach().clone()
    with L.no_grad():
        x.diagonal(1).fill_(5.0)
        x.diagonal().mul_(2)
    return x


def _fill_diagonal(L, a):
    x = a.detach().clone()
    x.fill_diagonal_(2.5, wrap=True)
    return x


def _make(spec, rng, lib):
    data = _data(spec, rng if spec[1] is not None else rng)
    if data.dtype.kind == "f":
        t = lib.tensor(data, dtype=lib.float64)
        t.requires_grad_(True)
        return t
    return lib.tensor(data)


def _outputs(result):
    if isinstance(result, (tuple, list)):
        return [o for r in result for o in _outputs(r)]
    return [result]


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "")


GRAD_RTOL = {"digamma": 1e-8}  # PyTorch's trigamma is accurate to ~1e-9 (SciPy's polygamma to 1e-15)


@pytest.mark.parametrize("name,fn,specs", [pytest.param(*c, id=c[0]) for c in CASES])
def test_matches_pytorch(name, fn, specs):
    rng = np.random.default_rng(7)
    arrays = [_data(spec, rng) for spec in specs]
    ours_in = [G.tensor(a, dtype=G.float64, requires_grad=True) if a.dtype.kind == "f" else G.tensor(a)
               for a in arrays]
    theirs_in = [torch.tensor(a, dtype=torch.float64, requires_grad=True) if a.dtype.kind == "f" else
                 torch.tensor(a) for a in arrays]
    ours, theirs = fn(G, *ours_in), fn(torch, *theirs_in)
    assert isinstance(ours, (tuple, list)) == isinstance(theirs, (tuple, list))
    if hasattr(theirs, "_fields") or type(theirs).__module__ == "torch.return_types":
        assert type(ours).__name__ == type(theirs).__name__
        for field in ("values", "indices"):
            if hasattr(theirs, field):
                assert getattr(ours, field) is not None
    ours_out, theirs_out = _outputs(ours), _outputs(theirs)
    assert len(ours_out) == len(theirs_out)
    for o, t in zip(ours_out, theirs_out):
        assert tuple(o.shape) == tuple(t.shape)
        assert _dtype_name(o) == _dtype_name(t)
        tol = 1e-10 if o.dtype != G.float32 else 1e-6  # integers promoted to float32 round at float32
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)
    differentiable = [(o, t) for o, t in zip(ours_out, theirs_out) if t.requires_grad]
    if not differentiable:
        assert not any(o.requires_grad for o in ours_out)
        return
    weights = [rng.standard_normal(tuple(t.shape)) for _, t in differentiable]
    loss_theirs = sum((t * torch.tensor(w)).sum() for (_, t), w in zip(differentiable, weights))
    wrt = [(a, b) for a, b in zip(ours_in, theirs_in) if b.requires_grad]
    grads_theirs = torch.autograd.grad(loss_theirs, [b for _, b in wrt], allow_unused=True)
    connected = [(o, w) for (o, _), w in zip(differentiable, weights) if o.requires_grad]
    if connected:
        loss_ours = sum((o * G.tensor(w)).sum() for o, w in connected)
        grads_ours = G.autograd.grad(loss_ours, [a for a, _ in wrt], allow_unused=True)
    else:  # ours is constant where PyTorch's graph carries only zeros (matrix_power(a, 0), a 0-norm)
        grads_ours = [None] * len(wrt)
    for go, gt in zip(grads_ours, grads_theirs):
        expected = None if gt is None else gt.numpy(force=True)  # force: PyTorch's ZeroTensor gradients
        if go is None:
            assert expected is None or not np.any(expected)
            continue
        assert expected is not None or not np.any(go.numpy())
        np.testing.assert_allclose(go.numpy(), 0 if expected is None else expected, rtol=GRAD_RTOL.get(name, 1e-10),
                                   atol=1e-10)


# --- named tuples ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [lambda L, x: x.max(1), lambda L, x: L.min(x, 0), lambda L, x: x.sort(),
                                  lambda L, x: x.topk(2), lambda L, x: x.cummax(0), lambda L, x: x.cummin(1),
                                  lambda L, x: x.kthvalue(1), lambda L, x: x.median(0), lambda L, x: x.mode(1)])
def test_value_index_results_are_named_tuples_like_pytorchs(call):
    x = np.random.default_rng(1).standard_normal((3, 4))
    ours, theirs = call(G, G.tensor(x)), call(torch, torch.tensor(x))
    assert type(ours).__name__ == type(theirs).__name__
    assert ours._fields == ("values", "indices")
    values, indices = ours  # unpacks like a tuple
    assert ours[0] is values and ours.values is values and ours[1] is indices and ours.indices is indices
    np.testing.assert_array_equal(indices.numpy(), theirs.indices.numpy())
    assert repr(ours).startswith(f"gpuad.return_types.{type(theirs).__name__}(\nvalues=")


def test_pred_from_max_is_the_argmax():
    logits = G.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    pred = logits.max(1)[1]
    assert pred.tolist() == [1, 0] and pred.dtype == G.int64
    assert logits.max(1).values.tolist() == [2.0, 3.0]
    assert logits.max().item() == 3.0


# --- errors ---------------------------------------------------------------------------------------------------------
ERRORS = [
    ("gather-rank", lambda L: L.gather(L.zeros(3, 4), 0, L.zeros(3, dtype=L.int64)), "gather"),
    ("gather-float-index", lambda L: L.gather(L.zeros(3, 4), 0, L.zeros(3, 4)), "gather"),
    ("gather-out-of-range", lambda L: L.gather(L.zeros(3, 4), 0, L.tensor([[3, 0, 0, 0]])), "gather"),
    ("gather-negative", lambda L: L.gather(L.zeros(3, 4), 0, L.tensor([[-1, 0, 0, 0]])), "gather"),
    ("gather-dim", lambda L: L.gather(L.zeros(3, 4), 2, L.zeros(3, 4, dtype=L.int64)), "gather"),
    ("scatter-dtype", lambda L: L.zeros(3, 4).scatter(0, L.zeros(1, 4, dtype=L.int64),
                                                      L.ones(1, 4, dtype=L.float64)), "scatter"),
    ("index_select-2d-index", lambda L: L.index_select(L.zeros(3, 4), 0, L.zeros(2, 2, dtype=L.int64)),
     "index_select"),
    ("index_select-range", lambda L: L.index_select(L.zeros(3, 4), 1, L.tensor([4])), "index_select"),
    ("masked_fill-float-mask", lambda L: L.zeros(3).masked_fill(L.zeros(3), 1.0), "masked_fill"),
    ("masked_fill-tensor-value-1d", lambda L: L.zeros(3).masked_fill(L.zeros(3) > 0, L.ones(3)), "masked_fill"),
    ("topk-k", lambda L: L.zeros(3).topk(4), "topk"),
    ("kthvalue-k", lambda L: L.zeros(3).kthvalue(0), "kthvalue"),
    ("sort-dim", lambda L: L.zeros(3).sort(1), "sort"),
    ("max-dim", lambda L: L.zeros(3, 2).max(2), "max"),
    ("max-empty-dim", lambda L: L.zeros(0, 2).max(0), "max"),
    ("bincount-2d", lambda L: L.bincount(L.zeros(2, 2, dtype=L.int64)), "bincount"),
    ("bincount-negative", lambda L: L.bincount(L.tensor([-1, 0])), "bincount"),
    ("histc-range", lambda L: L.histc(L.zeros(3), 4, min=2, max=1), "histc"),
    ("repeat-too-few", lambda L: L.zeros(2, 3).repeat(2), "repeat"),
    ("roll-mismatch", lambda L: L.zeros(2, 3).roll((1, 2), (0,)), "roll"),
    ("tril-1d", lambda L: L.tril(L.zeros(3)), "tril"),
    ("bmm-2d", lambda L: L.bmm(L.zeros(2, 3), L.zeros(3, 2)), "bmm"),
    ("outer-2d", lambda L: L.outer(L.zeros(2, 3), L.zeros(3)), "outer"),
    ("bmm-batch", lambda L: L.bmm(L.zeros(2, 3, 4), L.zeros(3, 4, 2)), "bmm"),
    ("mv-shapes", lambda L: L.mv(L.zeros(2, 3), L.zeros(2)), None),
    ("addmm-bcast", lambda L: L.addmm(L.zeros(4), L.zeros(2, 3), L.zeros(3, 2)), "addmm"),
    ("einsum-operands", lambda L: L.einsum("ij,jk->ik", L.zeros(2, 3)), "einsum"),
    ("einsum-size", lambda L: L.einsum("ij,jk->ik", L.zeros(2, 3), L.zeros(4, 2)), "einsum"),
    ("einsum-output", lambda L: L.einsum("ij->k", L.zeros(2, 3)), "einsum"),
    ("div-mode", lambda L: L.div(L.ones(2), 2, rounding_mode="round"), "rounding_mode"),
    ("isclose-dtypes", lambda L: L.isclose(L.zeros(2), L.zeros(2, dtype=L.float64)), "isclose"),
    ("solve-singular", lambda L: L.linalg.solve(L.zeros(2, 2), L.ones(2)), "solve"),
    ("solve-shapes", lambda L: L.linalg.solve(L.eye(3), L.ones(2)), "solve"),
    ("inv-nonsquare", lambda L: L.linalg.inv(L.zeros(2, 3)), "inv"),
    ("cholesky-indefinite", lambda L: L.linalg.cholesky(-L.eye(2)), "cholesky"),
    ("det-int", lambda L: L.linalg.det(L.eye(2, dtype=L.int64)), "det"),
    ("matrix_norm-1d", lambda L: L.linalg.matrix_norm(L.zeros(3)), "matrix_norm"),
    ("norm-3d-ord", lambda L: L.linalg.norm(L.zeros(2, 2, 2), 2), "norm"),
    ("meshgrid-2d", lambda L: L.meshgrid(L.zeros(2, 2), L.zeros(2), indexing="ij"), "meshgrid"),
    ("multinomial-too-many", lambda L: L.multinomial(L.tensor([1.0, 2.0]), 3), "multinomial"),
    ("index_select-negative", lambda L: L.zeros(3, 4).index_select(0, L.tensor([-1, 0])), "index_select"),
    ("randperm-negative", lambda L: L.randperm(-1), "randperm"),
    ("lerp-dtype", lambda L: L.lerp(L.zeros(2), L.zeros(2, dtype=L.float64), 0.5), "lerp"),
]


@pytest.mark.parametrize("call,name", [pytest.param(c[1], c[2], id=c[0]) for c in ERRORS])
def test_bad_input_raises_like_pytorch_with_a_message_naming_the_op(call, name):
    with pytest.raises(Exception):
        call(torch)
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError, ZeroDivisionError)) as info:
        call(G)
    if name is not None:
        assert name in str(info.value)


# --- out= -------------------------------------------------------------------------------------------------------
def test_out_writes_into_the_given_tensor_and_returns_it():
    a, b = G.tensor([1.0, 2.0]), G.tensor([3.0, 4.0])
    out = G.empty(2)
    assert G.add(a, b, out=out) is out and out.tolist() == [4.0, 6.0]
    assert G.matmul(G.eye(2), a, out=out) is out and out.tolist() == [1.0, 2.0]
    assert G.sum(a, out=G.empty(())).item() == 3.0
    values, indices = G.empty(0), G.empty(0, dtype=G.int64)
    result = G.max(G.tensor([[1.0, 5.0], [7.0, 2.0]]), 1, out=(values, indices))
    assert type(result).__name__ == "max" and result.values is values and indices.tolist() == [1, 0]


def test_out_resizes_with_a_warning_as_pytorch_does():
    out = G.zeros(3)
    with pytest.warns(UserWarning, match="resized"):
        G.mul(G.ones(2, 2), 2.0, out=out)
    assert out.shape == (2, 2) and out.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    empty = G.empty(0)
    G.exp(G.zeros(3), out=empty)  # an empty out is resized silently
    assert empty.tolist() == [1.0, 1.0, 1.0]


def test_out_refuses_inputs_that_require_grad_like_pytorch():
    a = G.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic differentiation"):
        G.add(a, a, out=G.zeros(2))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        G.add(G.ones(2), G.ones(2), out=G.zeros(2, requires_grad=True))
    with G.no_grad():
        assert G.add(a, a, out=G.zeros(2)).tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="can't be cast"):
        G.add(G.ones(2), 0.5, out=G.zeros(2, dtype=G.int64))


def test_linalg_functions_take_out():
    out = G.empty(0, dtype=G.float64)
    G.linalg.inv(G.eye(2, dtype=G.float64) * 2, out=out)
    assert out.tolist() == [[0.5, 0.0], [0.0, 0.5]]


# --- linalg on more shapes, and a decomposition's reconstruction --------------------------------------------------
def test_decompositions_reconstruct_their_input_and_match_pytorch():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3))
    s = a.T @ a + np.eye(3)
    q, r = G.linalg.qr(G.tensor(a))
    np.testing.assert_allclose((q @ r).numpy(), a, atol=1e-12)
    u, sv, vh = G.linalg.svd(G.tensor(a), full_matrices=False)
    np.testing.assert_allclose((u * sv @ vh).numpy(), a, atol=1e-12)
    np.testing.assert_allclose(sv.numpy(), torch.linalg.svdvals(torch.tensor(a)).numpy(), atol=1e-12)
    w, v = G.linalg.eigh(G.tensor(s))
    np.testing.assert_allclose((v @ G.diag(w) @ v.T).numpy(), s, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), torch.linalg.eigh(torch.tensor(s)).eigenvalues.numpy(), atol=1e-12)


def test_decompositions_without_gradients_refuse_inputs_that_require_grad():
    x = G.eye(3, dtype=G.float64, requires_grad=True)
    for fn in (G.linalg.svd, G.linalg.qr, G.linalg.eigh, G.linalg.svdvals):
        with pytest.raises(NotImplementedError, match="detach"):
            fn(x)


def test_gpuad_linalg_and_special_are_modules_like_torchs():
    import types
    assert isinstance(G.linalg, types.ModuleType) and isinstance(G.special, types.ModuleType)
    for name in ("norm", "vector_norm", "matrix_norm", "solve", "inv", "det", "slogdet", "cholesky", "qr", "eigh",
                 "svd", "lstsq"):
        assert callable(getattr(G.linalg, name)) and hasattr(torch.linalg, name)


def test_cumprod_gradient_with_repeated_zeros_matches_pytorch():
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    ours = G.tensor(x, dtype=G.float64, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    ours.cumprod(0).sum().backward()
    theirs.cumprod(0).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    ours.grad = None
    ours.prod().backward()
    theirs.grad = None
    theirs.prod().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_logcumsumexp_is_exact_where_the_naive_formula_overflows():
    x = G.tensor([1000.0, 1000.0, -1000.0], dtype=G.float64)
    np.testing.assert_allclose(G.logcumsumexp(x, 0).numpy(), [1000.0, 1000.0 + math.log(2), 1000.0 + math.log(2)])
