"""Small datasets and loaders for training examples (plain NumPy arrays in and out).

The bundled digits data is the "Optical Recognition of Handwritten Digits" dataset by E. Alpaydin and
C. Kaynak, UCI Machine Learning Repository, licensed CC BY 4.0, https://doi.org/10.24432/C50P49.
"""
import csv
import io
import math
import numbers
import os
import zipfile
from importlib import resources

import numpy as np

__all__ = ["load_digits", "load_file", "train_test_split"]

# digits.npz: the 8x8 version of the UCI dataset above (1,797 samples, 64 pixels valued 0..16, labels 0..9),
# taken from `sklearn/datasets/data/digits.csv.gz` in the scikit-learn 1.9.1 wheel (read as a zip, not
# installed), checked (1797 rows, 10 classes, values 0..16) and saved with
# np.savez_compressed(..., X=uint8 (1797, 64), y=uint8 (1797,)).
_DIGITS_FILE = "digits.npz"


def load_digits():
    """The bundled handwritten-digits data: ``X`` float32 (1797, 64) scaled to [0, 1], ``y`` int64 (1797,)."""
    resource = resources.files(__name__).joinpath(_DIGITS_FILE)
    if not resource.is_file():
        raise FileNotFoundError(f"{_DIGITS_FILE!r} is not in the installed package gpuad.datasets; "
                                "reinstall gpuad with 'pip install .'")
    with np.load(io.BytesIO(resource.read_bytes()), allow_pickle=False) as data:
        X = data["X"].astype(np.float32) / np.float32(16.0)
        y = data["y"].astype(np.int64)
    return X, y


def load_file(path):
    """Load ``(X, y)`` from a ``.npz`` (arrays ``X`` 2-D and ``y`` 1-D) or a ``.csv`` (numeric, the last
    column is the integer class label, an optional header row). Returns ``X`` float32 and ``y`` int64.

    Raises FileNotFoundError for a missing file and ValueError naming the file and the problem otherwise.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npz", ".csv"):
        raise ValueError(f"{path}: unsupported file extension {ext or '(none)'!r}; expected .npz or .csv")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path}: file is empty")
    if ext == ".npz":
        X, y = _read_npz(path)
        return _check(path, X, y, _npz_where)
    X, y, linenos = _read_csv(path)
    return _check(path, X, y, lambda i, j=None: f"row {linenos[i]}" + ("" if j is None else f", column {j + 1}"))


def _npz_where(i, j=None):
    return f"sample {i}" + ("" if j is None else f", feature {j}")


def _read_npz(path):
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: not a .npz archive (it holds a single array; save with np.savez)")
        with data:
            missing = [k for k in ("X", "y") if k not in data.files]
            if missing:
                raise ValueError(f"{path}: .npz file has no array {' or '.join(map(repr, missing))} "
                                 f"(found {sorted(data.files)}); expected arrays 'X' and 'y'")
            return data["X"], data["y"]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a valid .npz file ({exc})") from None
    except ValueError as exc:
        if str(exc).startswith(f"{path}:"):
            raise
        # e.g. object arrays, which would need pickle
        raise ValueError(f"{path}: cannot read .npz file ({exc})") from None


def _read_csv(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [(lineno, row) for lineno, row in enumerate(csv.reader(f), start=1)
                    if any(cell.strip() for cell in row)]
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text CSV file") from None
    if not rows:
        raise ValueError(f"{path}: file is empty (no rows)")

    def parse(row):
        return [float(cell) for cell in row]

    # The first row is a header if none of its cells is a number (a typo in a data row is an error below).
    header = None
    if not any(_is_number(cell) for cell in rows[0][1]):
        header = rows[0][1]
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{path}: file has a header row but no data rows")

    ncols = len(header) if header is not None else len(rows[0][1])
    if ncols < 2:
        raise ValueError(f"{path}: need at least 2 columns (features, then the label), found {ncols}")
    values = []
    for lineno, row in rows:
        if len(row) != ncols:
            raise ValueError(f"{path}: row {lineno} has {len(row)} columns, expected {ncols}")
        for col, cell in enumerate(row, start=1):
            if not _is_number(cell):
                raise ValueError(f"{path}: row {lineno}, column {col}: non-numeric value {cell.strip()!r}") from None
        values.append(parse(row))
    data = np.asarray(values, dtype=np.float64)
    return data[:, :-1], data[:, -1], [lineno for lineno, _ in rows]


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _check(path, X, y, where):
    """Validate and convert; ``where(i[, j])`` names sample ``i`` (feature ``j``) in messages: CSV row/column or array indices."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{path}: X must be 2-D (samples, features), got shape {X.shape}")
    if y.ndim != 1:
        raise ValueError(f"{path}: y must be 1-D (one label per sample), got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: length mismatch: X has {X.shape[0]} samples but y has {y.shape[0]} labels")
    if X.shape[0] == 0:
        raise ValueError(f"{path}: file is empty (no samples)")
    if X.shape[1] == 0:
        raise ValueError(f"{path}: X has no feature columns")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: X must be numeric, got dtype {X.dtype}")
    if y.dtype.kind not in "iuf":
        raise ValueError(f"{path}: y must hold integer class labels, got dtype {y.dtype}")
    X = X.astype(np.float32)
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{path}: X contains NaN or inf (first at {where(bad[0], bad[1])})")
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            raise ValueError(f"{path}: labels must be integers, got non-integer label {float(y[bad[0]])} "
                             f"at {where(bad[0])}")
    if np.any(y < 0):
        i = int(np.flatnonzero(y < 0)[0])
        raise ValueError(f"{path}: labels must be non-negative class indices, got negative label {int(y[i])} "
                         f"at {where(i)}")
    return X, y.astype(np.int64)


def train_test_split(X, y, test_fraction=0.2, seed=0):
    """Shuffle with ``np.random.default_rng(seed)`` and split off ``round(test_fraction * n)`` test samples.

    Returns ``(X_train, y_train, X_test, y_test)``; the same inputs and seed always give the same split.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 1 or y.ndim < 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of samples, got shapes {X.shape} and {y.shape}")
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real)
            or math.isnan(test_fraction) or not 0 < test_fraction < 1):
        raise ValueError(f"test_fraction must be a number with 0 < test_fraction < 1, got {test_fraction!r}")
    n = X.shape[0]
    n_test = round(test_fraction * n)
    if n_test == 0 or n_test == n:
        raise ValueError(f"test_fraction={test_fraction} of {n} samples leaves {n_test} test and "
                         f"{n - n_test} training samples; both must be non-empty")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]
