"""Gradcheck cases for the Tensor API ops (ops/indexing, sorting, math_extra, reduce_extra, shape_extra, linalg,
einsum, linalg_decomp), merged into ``op_cases.CASES``: new primitives under their own names, and ops composed of
existing primitives under the primitive that carries their gradient, so every registry-driven suite (gradcheck,
forward mode, batched gradients, second derivatives, CUDA) runs them."""
import gpuad as G


def normal(*shape):
    return ("normal", shape)


def positive(*shape):
    return ("positive", shape)


def away(*shape):
    return ("away", shape)


def with_zeros(*shape):
    return ("with_zeros", shape)


def _on(a, data):
    return G.tensor(data, device=a.device)


def _eye(a, n):
    return G.eye(n, dtype=a.dtype, device=a.device)


ROWS = [[0, 2, 2, 1], [1, 1, 0, 0], [2, 0, 1, 2]]  # gather/scatter_add index along dim 0 of a (3, 4) tensor
UNIQUE_COLS = [[0, 3], [1, 2], [2, 0]]  # scatter index along dim 1: no repeats within a row
SPD = lambda a: a @ a.mT + _eye(a, a.shape[-1])  # noqa: E731 - a symmetric positive definite matrix from any a
WELL = lambda a: a + 3 * _eye(a, a.shape[-1])  # noqa: E731 - comfortably invertible

NEW_CASES = {
    "gather": [(lambda a: G.gather(a, 0, _on(a, ROWS)), [normal(3, 4)]),
               (lambda a: a.gather(1, _on(a, [[3, 3], [0, 1], [2, 0]])), [normal(3, 4)]),
               (lambda a: a.max(1).values, [normal(3, 4)]), (lambda a: a.min(0, keepdim=True).values, [normal(3, 4)]),
               (lambda a: G.max(a, dim=-1).values, [normal(2, 3, 4)]),
               (lambda a: a.sort(1, descending=True).values, [normal(3, 4)]),
               (lambda a: a.topk(2).values, [normal(3, 4)]), (lambda a: a.topk(2, 0, largest=False).values,
                                                            [normal(3, 4)]),
               (lambda a: a.kthvalue(2, 1).values, [normal(3, 4)]), (lambda a: a.median(), [normal(5)]),
               (lambda a: a.median(0).values, [normal(3, 4)]), (lambda a: a.mode(1).values, [normal(3, 4)]),
               (lambda a: a.cummax(1).values, [normal(3, 4)]), (lambda a: a.cummin(0).values, [normal(3, 4)]),
               (lambda a: G.quantile(a, 0.3, dim=1), [normal(3, 4)]),
               (lambda a: G.quantile(a, _on(a, [0.25, 0.5]).double()), [normal(7)]),
               (lambda a: G.take_along_dim(a, _on(a, [[1], [0], [3]]), 1), [normal(3, 4)])],
    "scatter_add": [(lambda a, s: G.scatter_add(a, 0, _on(a, ROWS), s), [normal(3, 4), normal(3, 4)]),
                    (lambda a, s: a.scatter_add(1, _on(a, UNIQUE_COLS), s), [normal(3, 4), normal(3, 3)])],
    "scatter": [(lambda a, s: a.scatter(1, _on(a, UNIQUE_COLS), s), [normal(3, 4), normal(3, 2)]),
                (lambda a: G.scatter(a, 1, _on(a, UNIQUE_COLS), 0.5), [normal(3, 4)])],
    "expm1": [(G.expm1, [normal(2, 3)])], "exp2": [(G.exp2, [normal(4)])], "log2": [(G.log2, [positive(4)])],
    "log10": [(G.log10, [positive(4)])], "reciprocal": [(G.reciprocal, [away(2, 3)])],
    "sinh": [(G.sinh, [normal(4)])], "cosh": [(G.cosh, [normal(4)])],
    "asin": [(lambda a: G.asin(a.tanh() * 0.9), [normal(5)])], "acos": [(lambda a: (a.tanh() * 0.9).acos(), [normal(5)])],
    "atan": [(G.atan, [normal(5)])], "asinh": [(G.asinh, [normal(5)])],
    "acosh": [(lambda a: G.acosh(a + 1), [positive(5)])], "atanh": [(lambda a: G.atanh(a.tanh() * 0.9), [normal(5)])],
    "trunc": [(lambda a: G.trunc(a * 3) + a, [normal(5)])], "frac": [(lambda a: G.frac(a * 3), [normal(5)])],
    "erfc": [(G.erfc, [normal(5)])], "erfinv": [(lambda a: G.erfinv(a.tanh() * 0.9), [normal(5)])],
    "lgamma": [(G.lgamma, [positive(5)])], "digamma": [(G.digamma, [positive(5)])],
    "polygamma": [(lambda a: G.polygamma(1, a), [positive(5)])], "i0": [(G.i0, [normal(5)])],
    "i1": [(G.ops.math_extra._i1, [normal(5)])], "entr": [(G.special.entr, [positive(5)])],
    "nan_to_num": [(G.nan_to_num, [normal(5)]), (lambda a: G.nan_to_num(1 / a, posinf=2.0), [away(5)])],
    "atan2": [(G.atan2, [normal(3, 4), away(4)]), (lambda a: G.atan2(a, 2.0), [normal(3)])],
    "hypot": [(G.hypot, [away(3, 4), away(4)])], "fmod": [(lambda a, b: G.fmod(a, b.abs() + 1), [normal(3, 4), normal(4)])],
    "xlogy": [(G.xlogy, [normal(3, 4), positive(4)]), (lambda b: G.xlogy(2.0, b), [positive(3)])],
    "logaddexp": [(G.logaddexp, [normal(3, 4), normal(4)])], "logaddexp2": [(G.logaddexp2, [normal(3, 4), normal(3, 1)])],
    "tril": [(lambda a: a.tril(), [normal(3, 4)]), (lambda a: G.tril(a, -1), [normal(2, 3, 3)])],
    "triu": [(lambda a: a.triu(1), [normal(3, 4)]), (lambda a: G.triu(a), [normal(2, 3, 3)])],
    "linalg_solve": [(lambda a, b: G.linalg.solve(WELL(a), b), [normal(3, 3), normal(3, 2)]),
                     (lambda a, b: G.linalg.solve(WELL(a), b), [normal(2, 3, 3), normal(3)]),
                     (lambda a, b: G.linalg.solve(WELL(a), b, left=False), [normal(3, 3), normal(2, 3)])],
    "linalg_inv": [(lambda a: G.linalg.inv(WELL(a)), [normal(3, 3)]), (lambda a: WELL(a).inverse(), [normal(2, 3, 3)])],
    "linalg_det": [(lambda a: G.linalg.det(WELL(a)), [normal(3, 3)]), (lambda a: WELL(a).det(), [normal(2, 3, 3)])],
    "linalg_logabsdet": [(lambda a: G.linalg.slogdet(WELL(a)).logabsdet, [normal(2, 3, 3)]),
                         (lambda a: G.logdet(SPD(a)), [normal(3, 3)])],
    "linalg_cholesky": [(lambda a: G.linalg.cholesky(SPD(a)), [normal(3, 3)]),
                        (lambda a: G.linalg.cholesky(SPD(a), upper=True), [normal(2, 3, 3)])],
    "diagonal": [(lambda a: a.diagonal(), [normal(3, 4)]), (lambda a: G.diagonal(a, 1, 0, 2), [normal(3, 2, 4)]),
                 (lambda a: G.diag(a, -1), [normal(3, 3)]), (lambda a: a.trace(), [normal(3, 3)]),
                 (lambda a: G.einsum("ii->i", a), [normal(3, 3)]), (lambda a: a.diagonal(0, -1, -2) * 2, [normal(2, 3)])],
    "diagonal_scatter": [(lambda a: G.diag(a, 1), [normal(3)]), (lambda a: G.diag_embed(a), [normal(2, 3)]),
                         (lambda a: G.diag_embed(a, -1, 0, 2), [normal(2, 3)])],
    "cumprod": [(lambda a: a.cumprod(1), [normal(3, 4)]), (lambda a: G.cumprod(a, 0), [with_zeros(6)]),
                (lambda a: a.prod(), [normal(5)]), (lambda a: a.prod(1, keepdim=True), [with_zeros(2, 3)]),
                (lambda a: G.prod(a, 0), [with_zeros(3, 2)])],
    "logcumsumexp": [(lambda a: a.logcumsumexp(1), [normal(3, 4)]), (lambda a: G.logcumsumexp(a * 30, 0), [normal(5)])],
}

# ops made of existing primitives: checked under the primitive that carries most of their gradient
COMPOSED = {
    "getitem": [(lambda a: a.index_select(1, _on(a, [2, 0, 2])), [normal(3, 4)]),
                (lambda a: G.masked_select(a, a > 0), [away(3, 4)]), (lambda a: a.roll(1, 0), [normal(3, 2)]),
                (lambda a: G.roll(a, (1, -1), (0, 1)), [normal(3, 4)]), (lambda a: a.roll(2), [normal(3, 2)]),
                (lambda a: a.repeat_interleave(2, dim=0), [normal(2, 3)]),
                (lambda a: G.repeat_interleave(a, _on(a, [1, 0, 2])), [normal(3)]),
                ],
    "index_backward": [(lambda a, s: G.index_add(a, 0, _on(a, [0, 2, 0]), s), [normal(3, 2), normal(3, 2)])],
    "where": [(lambda a: a.masked_fill(a > 0, 0.5), [away(3, 4)]),
              (lambda a, v: G.masked_fill(a, a < 0, v), [away(3, 4), normal()]),
              (lambda a: G.clamp_min(a, 0.1) + a.clamp_max(-0.1), [away(5)]),
              (lambda a: G.sinc(a), [away(5)]), (lambda a: G.logit(G.sigmoid(a), eps=0.01), [normal(5)]),
              (lambda x, y: G.lerp(x, y, 0.3) + x.lerp(y, y.sigmoid()), [normal(3, 4), normal(4)])],
    "expand": [(lambda a: a.repeat(2, 1, 3), [normal(2, 3)]), (lambda a: G.tile(a, (2,)), [normal(3)]),
               (lambda a, b: sum(g * (i + 1) for i, g in enumerate(G.meshgrid(a, b, indexing="xy"))),
                [normal(3), normal(2)]),
               (lambda a, b: G.meshgrid(a, b, indexing="ij")[0] * G.meshgrid(a, b, indexing="ij")[1],
                [normal(3), normal(2)])],
    "sub": [(lambda a: a.diff(), [normal(3, 4)]), (lambda a: G.diff(a, n=2, dim=0, prepend=a[:1]), [normal(4, 2)]),
            (lambda a, b: G.cdist(a, b), [normal(4, 3), normal(5, 3)]),
            (lambda a, b: G.cdist(a, b, p=1), [normal(2, 3), normal(3, 3)])],
    "matmul": [(G.bmm, [normal(2, 3, 4), normal(2, 4, 2)]), (G.mv, [normal(3, 4), normal(4)]),
               (lambda c, a, b: G.addmm(c, a, b, beta=0.5, alpha=2), [normal(3, 2), normal(3, 4), normal(4, 2)]),
               (lambda c, a, b: G.baddbmm(c, a, b), [normal(2, 3, 2), normal(2, 3, 4), normal(2, 4, 2)]),
               (lambda a, b: G.einsum("ij,jk->ik", a, b), [normal(3, 4), normal(4, 2)]),
               (lambda a, b: G.einsum("bij,bjk->bik", a, b), [normal(2, 3, 4), normal(2, 4, 2)]),
               (lambda a, b, c: G.einsum("i,ij,j->", a, b, c), [normal(3), normal(3, 4), normal(4)]),
               (lambda a, b: G.einsum("...ij,jk", a, b), [normal(2, 3, 4), normal(4, 2)]),
               (lambda a, b: G.inner(a, b), [normal(2, 4), normal(3, 4)]),
               (lambda a: G.linalg.matrix_power(a, 3), [normal(3, 3)])],
    "norm": [(lambda a: G.linalg.norm(a), [normal(3, 4)]), (lambda a: G.linalg.vector_norm(a, 3, dim=1), [away(3, 4)]),
             (lambda a: G.linalg.matrix_norm(a), [normal(2, 3, 4)]),
             (lambda a: G.linalg.matrix_norm(a, 1), [away(3, 4)]), (lambda a: G.linalg.norm(a, float("inf")),
                                                                    [away(3, 4)]),
             (lambda a: G.linalg.vector_norm(a, -1), [away(4)]),
             (lambda a: G.linalg.lstsq(a, a[:, :1] * 2 + 1).solution, [normal(5, 2)])],
}


def add_api_cases(cases):
    for name, extra in NEW_CASES.items():
        if name in cases:
            raise ValueError(f"op_cases_api: {name} already has cases in op_cases.py")
        cases[name] = extra
    for name, extra in COMPOSED.items():
        cases[name] = list(cases[name]) + extra
