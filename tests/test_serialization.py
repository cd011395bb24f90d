"""gpuad.save / gpuad.load: round trips, atomic writes, clear errors on foreign or damaged files, and no pickle."""
import json
import os
import re

import numpy as np
import pytest

import gpuad as G
from gpuad import nn


def assert_same(got, want, where="root"):
    """Recursive equality that also checks container types, tensor dtype/requires_grad/device and array dtypes."""
    assert type(got) is type(want) or (isinstance(want, G.Tensor) and type(got) is G.Tensor), where
    if isinstance(want, G.Tensor):
        assert got.dtype == want.dtype and got.shape == want.shape, where
        assert got.requires_grad == want.requires_grad and got.device == want.device, where
        np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy(), err_msg=where)
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype, where
        np.testing.assert_array_equal(got, want, err_msg=where)
    elif isinstance(want, dict):
        assert list(got) == list(want), where
        for k in want:
            assert_same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and np.isnan(want):
        assert np.isnan(got), where
    else:
        assert got == want, where


def round_trip(obj, tmp_path, **load_kwargs):
    path = tmp_path / "state.gpuad"
    G.save(obj, path)
    return G.load(path, **load_kwargs)


def files_in(folder):
    return sorted(os.listdir(folder))


# --- round trips --------------------------------------------------------------------------------------------------
def test_nested_round_trip(tmp_path):
    obj = {
        "model": {"w": G.randn(3, 4), "b": G.zeros(4, dtype=G.float64, requires_grad=True)},
        "steps": [1, 2.5, None, "adam", True, (G.arange(5), np.arange(6, dtype=np.int16).reshape(2, 3))],
        0: "int key", 17: {-3: [np.float32(1.5)]},
        "tuple": (1, ("nested", [None])),
        "text": "ünïcødé \"quoted\" \n newline",
        "floats": [0.1, -0.0, 1e300, float("inf"), float("nan")],
        "empty": {"list": [], "tuple": (), "dict": {}},
        "big_int": 2 ** 62,
    }
    want = dict(obj)
    want[17] = {-3: [1.5]}  # a NumPy scalar comes back as the Python number
    assert_same(round_trip(obj, tmp_path), want)


@pytest.mark.parametrize("dtype", [G.float16, G.float32, G.float64, G.int32, G.int64, G.uint8, G.bool])
def test_tensor_dtype_preserved(dtype, tmp_path):
    t = G.tensor(np.arange(-3, 9).reshape(3, 4) % 5).to(dtype)
    assert_same(round_trip(t, tmp_path), t)


@pytest.mark.parametrize("requires_grad", [True, False])
def test_requires_grad_preserved_and_result_is_a_leaf(requires_grad, tmp_path):
    t = G.randn(2, 3, dtype=G.float64, requires_grad=requires_grad)
    back = round_trip({"t": t, "scalar": G.tensor(3.5, requires_grad=requires_grad)}, tmp_path)
    assert back["t"].requires_grad is requires_grad and back["t"].is_leaf
    assert back["scalar"].shape == () and back["scalar"].item() == 3.5
    if requires_grad:
        (back["t"] * 2).sum().backward()
        np.testing.assert_array_equal(back["t"].grad.numpy(), np.full((2, 3), 2.0))


def test_non_contiguous_tensor_and_map_location(tmp_path):
    t = G.randn(3, 5).T
    back = round_trip([t], tmp_path, map_location="cpu")
    assert back[0].device.type == "cpu"
    assert_same(back, [t])


def test_model_state_dict_round_trip(tmp_path):
    model, other = nn.MLP([4, 8, 3]), nn.MLP([4, 8, 3])
    other.load_state_dict(round_trip(model.state_dict(), tmp_path))
    x = G.randn(5, 4)
    np.testing.assert_array_equal(model(x).detach().numpy(), other(x).detach().numpy())


def test_str_path_with_any_suffix_is_written_exactly_there(tmp_path):
    path = str(tmp_path / "model.pt")
    G.save({"a": 1}, path)
    assert files_in(tmp_path) == ["model.pt"]  # no ".npz" appended, no temp files left
    assert G.load(path) == {"a": 1}


# --- what cannot be saved -----------------------------------------------------------------------------------------
class Custom:
    pass


@pytest.mark.parametrize("bad,pattern", [
    ({"opt": {"x": Custom()}}, r"\['opt'\]\['x'\].*Custom"),
    ([1, {2, 3}], r"\[1\].*set"),
    ({"arr": np.array([1, "a", None], dtype=object)}, r"\['arr'\].*dtype object"),
    ({"arr": np.array(["a", "b"])}, r"\['arr'\].*dtype"),
    ({1.5: 1}, r"key.*float"),
    ({(1, 2): 1}, r"key.*tuple"),
], ids=["object", "set", "object-array", "str-array", "float-key", "tuple-key"])
def test_unsupported_values_raise_type_error_naming_where(bad, pattern, tmp_path):
    with pytest.raises(TypeError, match=pattern):
        G.save(bad, tmp_path / "x.gpuad")
    assert files_in(tmp_path) == []


# --- atomic writes ------------------------------------------------------------------------------------------------
@pytest.fixture
def existing(tmp_path):
    path = tmp_path / "ckpt.gpuad"
    G.save({"version": 1, "w": G.ones(3)}, path)
    return path


def test_failed_encoding_leaves_existing_file_intact(existing):
    with pytest.raises(TypeError):
        G.save({"version": 2, "w": G.zeros(3), "bad": [G.ones(2), Custom()]}, existing)
    assert G.load(existing)["version"] == 1
    assert files_in(existing.parent) == [existing.name]


def test_failure_while_writing_leaves_existing_file_intact(existing, monkeypatch):
    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        G.save({"version": 2}, existing)
    monkeypatch.undo()
    assert G.load(existing)["version"] == 1
    assert files_in(existing.parent) == [existing.name]


def test_saving_over_an_existing_file_replaces_it(existing):
    G.save({"version": 2}, existing)
    assert G.load(existing) == {"version": 2}
    assert files_in(existing.parent) == [existing.name]


def test_saved_file_gets_default_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "shared.gpuad"
    G.save({"a": 1}, path)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


# --- loading damaged or foreign files -----------------------------------------------------------------------------
def _truncated(path):
    G.save({"w": G.randn(100, 100)}, path.with_suffix(".tmp"))
    data = path.with_suffix(".tmp").read_bytes()
    path.with_suffix(".tmp").unlink()
    path.write_bytes(data[:len(data) // 2])


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _plain_npz(path):
    with open(path, "wb") as fh:
        np.savez(fh, w=np.ones(3))


def _empty(path):
    path.write_bytes(b"")


def _wrong_format(path):
    manifest = json.dumps({"format": "gpuad-state/99", "root": {"value": 1}}).encode()
    with open(path, "wb") as fh:
        np.savez(fh, __gpuad_manifest__=np.frombuffer(manifest, dtype=np.uint8))


def _plain_npy(path):
    with open(path, "wb") as fh:
        np.save(fh, np.ones(3))


@pytest.mark.parametrize("make", [
    _truncated, _random_bytes, _plain_npz, _empty, _wrong_format, _plain_npy,
], ids=lambda f: f.__name__.strip("_"))
def test_loading_a_bad_file_raises_value_error_naming_it(make, tmp_path):
    path = tmp_path / "bad.gpuad"
    make(path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        G.load(path)


def test_loading_a_missing_file_names_it(tmp_path):
    path = tmp_path / "nope.gpuad"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        G.load(path)


_UNPICKLED = []


def _mark_unpickled():
    _UNPICKLED.append(True)
    return "unpickled!"


class Sneaky:
    def __reduce__(self):
        return _mark_unpickled, ()


def test_never_unpickles_an_object_array_slipped_into_a_file(tmp_path):
    """A gpuad-looking file whose array needs pickle must be rejected, not unpickled."""
    path = tmp_path / "evil.gpuad"
    manifest = json.dumps({"format": "gpuad-state/1", "root": {"array": "a0"}}).encode()
    payload = np.empty(1, dtype=object)
    payload[0] = Sneaky()
    with open(path, "wb") as fh:
        np.savez(fh, __gpuad_manifest__=np.frombuffer(manifest, dtype=np.uint8), a0=payload)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        G.load(path)
    assert _UNPICKLED == []
