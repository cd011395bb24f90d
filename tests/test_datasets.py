"""gpuad.datasets: the bundled digits data, the file loader and the train/test split."""
import numpy as np
import pytest

from gpuad.datasets import load_digits, load_file, train_test_split


# ---------------------------------------------------------------- load_digits

def test_load_digits_shapes_dtypes_and_ranges():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # pixel values were integers 0..16 before scaling
    np.testing.assert_array_equal(X * 16, np.round(X * 16))
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_class_counts():
    _, y = load_digits()
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


def test_load_digits_returns_fresh_arrays():
    X1, _ = load_digits()
    X1[:] = -1
    X2, _ = load_digits()
    assert X2.min() == 0.0


# ---------------------------------------------------------------- train_test_split

def test_split_sizes_and_disjointness():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    X_tr, y_tr, X_te, y_te = train_test_split(X, y, test_fraction=0.2, seed=0)
    assert len(X_tr) == len(y_tr) == 40 and len(X_te) == len(y_te) == 10
    assert set(y_tr).isdisjoint(y_te) and set(y_tr) | set(y_te) == set(range(50))
    # rows stay paired with their labels
    np.testing.assert_array_equal(X_tr[:, 0], 2 * y_tr)
    np.testing.assert_array_equal(X_te[:, 0], 2 * y_te)


def test_split_test_size_is_rounded():
    X, y = load_digits()
    _, y_tr, _, y_te = train_test_split(X, y, test_fraction=0.25)
    assert len(y_te) == round(0.25 * 1797) == 449 and len(y_tr) == 1797 - 449


def test_split_is_reproducible_and_seed_dependent():
    X, y = load_digits()
    a = train_test_split(X, y, seed=3)
    b = train_test_split(X, y, seed=3)
    c = train_test_split(X, y, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])


def test_split_is_shuffled():
    y = np.arange(100)
    _, _, _, y_te = train_test_split(np.zeros((100, 1)), y)
    assert not np.array_equal(np.sort(y_te), np.arange(80, 100))
    assert not np.array_equal(np.sort(y_te), np.arange(20))


@pytest.mark.parametrize("frac", [0, 1, -0.1, 1.5, float("nan"), True, "0.2"])
def test_split_rejects_bad_fraction(frac):
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(np.zeros((10, 2)), np.zeros(10), test_fraction=frac)


def test_split_rejects_mismatched_lengths_and_empty_side():
    with pytest.raises(ValueError, match="same number of samples"):
        train_test_split(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="both must be non-empty"):
        train_test_split(np.zeros((3, 2)), np.zeros(3), test_fraction=0.1)


# ---------------------------------------------------------------- load_file round trips

@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0, 2, 5], dtype=np.int64)
    return X, y


def _check_round_trip(got, X, y):
    X2, y2 = got
    assert X2.dtype == np.float32 and y2.dtype == np.int64
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_load_file_npz_round_trip(tmp_path, data):
    X, y = data
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y.astype(np.uint8))
    _check_round_trip(load_file(path), X, y)
    _check_round_trip(load_file(str(path)), X, y)


def test_load_file_npz_accepts_integer_valued_float_labels(tmp_path, data):
    X, y = data
    np.savez(tmp_path / "d.npz", X=X.astype(np.float64), y=y.astype(np.float64))
    _check_round_trip(load_file(tmp_path / "d.npz"), X, y)


def _write_csv(path, X, y, header=None):
    lines = [] if header is None else [header]
    lines += [",".join([repr(float(v)) for v in row] + [str(int(label))]) for row, label in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")


def test_load_file_csv_round_trip_without_header(tmp_path, data):
    X, y = data
    _write_csv(tmp_path / "d.csv", X, y)
    _check_round_trip(load_file(tmp_path / "d.csv"), X, y)


def test_load_file_csv_round_trip_with_header(tmp_path, data):
    X, y = data
    _write_csv(tmp_path / "d.CSV", X, y, header="a,b,c,label")
    _check_round_trip(load_file(tmp_path / "d.CSV"), X, y)


def test_load_file_csv_skips_blank_lines_and_spaces(tmp_path):
    (tmp_path / "d.csv").write_text("x, label\n\n 1.5, 2\n-3 ,0\n\n")
    X, y = load_file(tmp_path / "d.csv")
    np.testing.assert_array_equal(X, [[1.5], [-3.0]])
    np.testing.assert_array_equal(y, [2, 0])


def test_load_file_digits_via_csv(tmp_path):
    X, y = load_digits()
    _write_csv(tmp_path / "digits.csv", X, y)
    _check_round_trip(load_file(tmp_path / "digits.csv"), X, y)


# ---------------------------------------------------------------- load_file errors

def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_file(path)


def test_wrong_extension(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("1,2\n")
    with pytest.raises(ValueError, match=r"d\.txt.*unsupported file extension '\.txt'"):
        load_file(path)


def _raises(path, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        load_file(path)
    assert path.name in str(info.value)
    return info


@pytest.mark.parametrize("name", ["e.csv", "e.npz"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    _raises(path, "empty")


def test_csv_with_only_blank_lines_or_only_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("\n\n")
    _raises(path, "empty")
    path.write_text("a,b,label\n")
    _raises(path, "header row but no data rows")


@pytest.mark.parametrize("missing", ["X", "y"])
def test_npz_without_X_or_y(tmp_path, missing):
    path = tmp_path / "d.npz"
    arrays = {"X": np.zeros((2, 2)), "y": np.zeros(2, dtype=int)}
    del arrays[missing]
    np.savez(path, **arrays)
    _raises(path, f"no array '{missing}'")


def test_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"this is not a zip file")
    _raises(path, "cannot read|not a valid")
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    _raises(path, "not a .npz archive")


@pytest.mark.parametrize("X, y, pattern", [
    (np.zeros(4), np.zeros(4, dtype=int), "X must be 2-D"),
    (np.zeros((4, 2, 2)), np.zeros(4, dtype=int), "X must be 2-D"),
    (np.zeros((4, 2)), np.zeros((4, 1), dtype=int), "y must be 1-D"),
    (np.zeros((4, 2)), np.zeros(3, dtype=int), "length mismatch: X has 4 samples but y has 3"),
    (np.zeros((0, 2)), np.zeros(0, dtype=int), "empty"),
    (np.zeros((4, 0)), np.zeros(4, dtype=int), "no feature columns"),
    (np.array([["a", "b"]] * 4), np.zeros(4, dtype=int), "X must be numeric"),
    (np.zeros((4, 2)), np.array(["a", "b", "c", "d"]), "integer class labels"),
    (np.zeros((4, 2)), np.array([0, 1, 1.5, 2]), "non-integer label 1.5 at sample 2"),
    (np.zeros((4, 2)), np.array([0, 1, np.nan, 2]), "non-integer label"),
    (np.zeros((4, 2)), np.array([0, -1, 1, 2]), "negative label -1 at sample 1"),
    (np.array([[0, 1], [2, np.nan], [0, 0], [0, 0]]), np.zeros(4, dtype=int), "NaN or inf.*sample 1, feature 1"),
    (np.array([[0, 1], [2, 3], [np.inf, 0], [0, 0]]), np.zeros(4, dtype=int), "NaN or inf.*sample 2, feature 0"),
])
def test_malformed_npz(tmp_path, X, y, pattern):
    path = tmp_path / "bad.npz"
    np.savez(path, X=X, y=y)
    _raises(path, pattern)


def test_npz_with_object_arrays_is_refused_without_pickle(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.array([[1, None]], dtype=object), y=np.array([0]))
    _raises(path, "cannot read .npz")


@pytest.mark.parametrize("text, pattern", [
    ("1,2,0\n3,x,1\n", "row 2, column 2: non-numeric value 'x'"),
    ("a,b,label\n1,2,0\n3,4,1\n5,,1\n", "row 4, column 2: non-numeric value ''"),
    ("1,abc,0\n3,4,1\n", "row 1, column 2: non-numeric value 'abc'"),
    ("1,2,0\n3,4\n", "row 2 has 2 columns, expected 3"),
    ("a,b,label\n1,2\n", "row 2 has 2 columns, expected 3"),
    ("1\n2\n", "at least 2 columns"),
    ("1,2,0\n3,4,1.5\n", "non-integer label 1.5 at row 2"),
    ("1,2,0\n\n3,4,-2\n", "negative label -2 at row 3"),
    ("a,b,label\n1,2,0\n3,nan,1\n", "NaN or inf.*row 3, column 2"),
    ("1,inf,0\n3,4,1\n", "NaN or inf.*row 1, column 2"),
])
def test_malformed_csv(tmp_path, text, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    _raises(path, pattern)


def test_csv_that_is_not_text(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00\x81")
    _raises(path, "not a UTF-8")
