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


# --- format 2: file objects, dtypes, key types, map_location, old files -------------------------------------------
import collections  # noqa: E402
import io  # noqa: E402

from gpuad import optim  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")
ALL_DTYPES = [G.bool, G.uint8, G.int8, G.int16, G.int32, G.int64, G.float16, G.float32, G.float64]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (2, 3, 4)], ids=str)
def test_every_dtype_and_shape_round_trips_through_bytes_io(dtype, shape):
    data = np.arange(int(np.prod(shape))).reshape(shape) % 3
    t = G.tensor(data).to(dtype)
    buf = io.BytesIO()
    G.save({"t": t, "strided": t.T if t.ndim > 1 else t}, buf)
    buf.seek(0)
    back = G.load(buf)
    assert_same(back, {"t": t, "strided": t.T if t.ndim > 1 else t})


def test_a_stepped_slice_round_trips(tmp_path):
    t = G.arange(40, dtype=G.float64).reshape(5, 8)[::2, 1::3]
    assert_same(round_trip(t, tmp_path), t)


def test_open_file_objects_round_trip_and_name_the_file_in_errors(tmp_path):
    path = tmp_path / "f.gpuad"
    with open(path, "wb") as fh:
        G.save({"w": G.ones(2)}, fh)
    with open(path, "rb") as fh:
        assert_same(G.load(fh), {"w": G.ones(2)})
    path.write_bytes(b"junk")
    with open(path, "rb") as fh, pytest.raises(ValueError, match=re.escape(repr(str(path)))):
        G.load(fh)
    with open(path, "r") as fh, pytest.raises(TypeError, match="binary"):
        G.load(fh)


def test_keys_keep_their_types_and_ordered_dicts_stay_ordered(tmp_path):
    obj = {0: "int", "0": "str", -5: {1: [2]}, "od": collections.OrderedDict([("z", 1), ("a", 2)])}
    back = round_trip(obj, tmp_path)
    assert list(back) == [0, "0", -5, "od"] and back[-5] == {1: [2]}
    assert type(back["od"]) is collections.OrderedDict and list(back["od"]) == ["z", "a"]


def test_named_tuples_are_refused_rather_than_silently_made_plain(tmp_path):
    Pair = collections.namedtuple("Pair", "a b")
    with pytest.raises(TypeError, match="named tuple"):
        G.save({"p": Pair(1, 2)}, tmp_path / "x.gpuad")


def test_model_and_optimizer_state_dicts_round_trip_and_resume_identically(tmp_path):
    G.manual_seed(0)
    model = nn.MLP([3, 5, 2])
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = G.randn(8, 3)

    def step(m, o):
        o.zero_grad()
        (m(x) ** 2).mean().backward()
        o.step()

    step(model, opt)
    buf = io.BytesIO()
    G.save({"model": model.state_dict(), "optim": opt.state_dict()}, buf)
    buf.seek(0)
    state = G.load(buf)
    assert set(state["optim"]["state"]) == set(opt.state_dict()["state"])
    assert all(isinstance(k, int) for k in state["optim"]["state"])
    clone = nn.MLP([3, 5, 2])
    clone.load_state_dict(state["model"])
    clone_opt = optim.Adam(clone.parameters(), lr=0.01)
    clone_opt.load_state_dict(state["optim"])
    for _ in range(3):
        step(model, opt)
        step(clone, clone_opt)
    for p, q in zip(model.parameters(), clone.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


@pytest.mark.parametrize("map_location", ["cpu", G.device("cpu"), {"cuda:0": "cpu"}, {"cpu": "cpu"},
                                          lambda storage, loc: storage, lambda storage, loc: None],
                         ids=["str", "device", "dict-other", "dict", "callable", "callable-none"])
def test_map_location_forms_on_a_cpu_file(map_location, tmp_path):
    t = G.randn(2, 3, requires_grad=True)
    back = round_trip({"t": t}, tmp_path, map_location=map_location)
    assert_same(back, {"t": t})


def test_map_location_callable_sees_the_saved_location_and_can_replace_the_tensor(tmp_path):
    seen = []

    def relocate(storage, location):
        seen.append((location, storage.shape))
        return storage * 2

    back = round_trip({"a": G.ones(2), "b": [G.ones(1)]}, tmp_path, map_location=relocate)
    assert seen == [("cpu", (2,)), ("cpu", (1,))]
    assert back["a"].tolist() == [2.0, 2.0]


def test_a_cuda_file_loads_on_the_cpu_with_map_location(tmp_path):
    path = tmp_path / "cuda.gpuad"
    with open(path, "wb") as fh:
        manifest = {"format": "gpuad-state/2", "root": {"tensor": "a0", "device": "cuda:1", "dtype": "float32",
                                                        "shape": [2]}}
        np.savez(fh, __gpuad_manifest__=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8),
                 a0=np.ones(2, np.float32))
    assert G.load(path, map_location="cpu").device == "cpu"
    assert G.load(path, map_location={"cuda:1": "cpu"}).device == "cpu"
    if not G.cuda.is_available():
        with pytest.raises(RuntimeError, match="map_location='cpu'"):
            G.load(path)


def test_bad_map_location_and_pickle_options_are_clear_errors(tmp_path):
    G.save({"a": G.ones(1)}, tmp_path / "x.gpuad")
    with pytest.raises(TypeError, match="map_location"):
        G.load(tmp_path / "x.gpuad", map_location=3)
    with pytest.raises(ValueError, match="never pickled"):
        G.load(tmp_path / "x.gpuad", pickle_module=json)
    with pytest.raises(ValueError, match="mmap"):
        G.load(tmp_path / "x.gpuad", mmap=True)
    assert G.load(tmp_path / "x.gpuad", weights_only=False)["a"].tolist() == [1.0]


def test_a_file_written_by_format_1_still_loads():
    """tests/data/gpuad-state-v1.gpuad was written by gpuad's format-1 ``save`` (a transposed tensor is stored in
    Fortran order there)."""
    back = G.load(os.path.join(DATA, "gpuad-state-v1.gpuad"))
    assert_same(back, {
        "model": {"w": G.arange(12, dtype=G.float32).reshape(3, 4).T,
                  "b": G.tensor([0.5, -1.0], dtype=G.float64, requires_grad=True)},
        "optim": {"state": {0: {"step": 3, "buf": G.ones(2, dtype=G.float64)}},
                  "param_groups": [{"lr": 0.01, "params": [0, 1]}]},
        "mask": G.tensor([True, False]), "scalar": G.tensor(7),
        "arr": np.arange(6, dtype=np.int16).reshape(2, 3).T, "meta": ("v1", None, 2.5, [1, 2])})


def test_the_manifest_records_format_3_with_dtype_and_shape(tmp_path):
    G.save({"w": G.zeros(2, 3, dtype=G.float16)}, tmp_path / "x.gpuad")
    with np.load(tmp_path / "x.gpuad") as archive:
        manifest = json.loads(bytes(archive["__gpuad_manifest__"]).decode())
    assert manifest["format"] == "gpuad-state/3"
    assert manifest["root"] == {"dict": [["w", {"tensor": "a0", "device": "cpu", "requires_grad": False,
                                                "dtype": "float16", "shape": [2, 3]}]]}


requires_cuda = pytest.mark.skipif(not G.cuda.is_available(), reason="no CUDA GPU available")


@requires_cuda
def test_cuda_tensors_round_trip_and_map_to_the_cpu_and_back(tmp_path):
    obj = {"w": G.randn(3, 2, device="cuda", requires_grad=True), "cpu": G.ones(2)}
    back = round_trip(obj, tmp_path)
    assert back["w"].device == "cuda:0" and back["w"].requires_grad and back["cpu"].device == "cpu"
    assert back["w"].cpu().tolist() == obj["w"].detach().cpu().tolist()
    assert round_trip(obj, tmp_path, map_location="cpu")["w"].device == "cpu"
    moved = round_trip(obj, tmp_path, map_location={"cpu": "cuda:0"})
    assert moved["cpu"].device == "cuda:0"
    assert round_trip(obj, tmp_path, map_location=lambda t, loc: t.cuda())["cpu"].device == "cuda:0"
