"""erf for NumPy arrays to machine precision without SciPy (used when SciPy is absent).

|x| < 3: erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1*3*...*(2n+1)), a series of positive terms (no cancellation).
|x| >= 3: erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), a continued fraction evaluated backwards.
"""
import math

import numpy as np

_SERIES_LIMIT = 3.0
_CF_DEPTH = 90


def erf(x):
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype("float64")
    x64 = x.astype(np.float64)
    a = np.abs(x64)
    out = np.empty_like(x64)
    small = a < _SERIES_LIMIT
    if small.any():
        out[small] = _erf_series(a[small])
    if (~small).any():
        out[~small] = 1.0 - _erfc_cf(a[~small])
    return (np.sign(x64) * out).astype(dtype, copy=False)


def _erf_series(a):
    a2 = a * a
    term = a.copy()
    total = a.copy()
    n = 0
    while True:
        n += 1
        term *= 2.0 * a2 / (2 * n + 1)
        total += term
        if not np.any(term > 1e-17 * total) or n > 200:
            break
    return 2.0 / math.sqrt(math.pi) * np.exp(-a2) * total


def _erfc_cf(a):
    f = a.copy()
    for n in range(_CF_DEPTH, 0, -1):
        f = a + (n / 2.0) / f
    return np.exp(-a * a) / (math.sqrt(math.pi) * f)
