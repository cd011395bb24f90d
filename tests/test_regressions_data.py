"""Issue 11, items 24 and 25: hostile or hand-edited files give one ValueError naming the file (bounded memory and
nesting), and saving through a symlink writes the link's target, atomically."""
import io
import json
import os
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

import gpuad as G


def write_gpuad(path, manifest, arrays=None, raw_members=None):
    """A file laid out as gpuad.save lays it out, with a manifest and members of our choosing."""
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    with open(path, "wb") as fh:
        np.savez(fh, __gpuad_manifest__=np.frombuffer(text.encode(), dtype=np.uint8), **(arrays or {}))
    if raw_members:
        with zipfile.ZipFile(path, "a") as archive:
            for name, data in raw_members.items():
                archive.writestr(name, data)


def loads_with_one_value_error(path):
    """The problem the ValueError names, after checking it names the file (the path itself is cut out)."""
    with pytest.raises(ValueError, match=re.escape(repr(str(path)))) as info:
        G.load(path)
    return str(info.value).replace(repr(str(path)), "<path>")


FORMATS = ["gpuad-state/1", "gpuad-state/2", "gpuad-state/3"]  # a hand-edited file of any version


def v2(root, fmt="gpuad-state/2"):
    return {"format": fmt, "root": root}


# --- item 24: hand-edited manifests -------------------------------------------------------------------------------
@pytest.mark.parametrize("manifest,problem", [
    ({"format": "gpuad-state/2"}, "root"),
    ([1, 2, 3], "root"),
    (v2(5), "node"),
    (v2({}), "node"),
    (v2({"tensor": "a7"}), "a7"),
    (v2({"array": ["a0"]}), "array"),
    (v2({"dict": [[1.5, {"value": 1}]]}), "key of type float"),
    (v2({"dict": [[True, {"value": 1}]]}), "key of type bool"),
    (v2({"dict": "not pairs"}), "pairs"),
    (v2({"dict": [["k"]]}), "pairs"),
    (v2({"list": 5}), "JSON array"),
    (v2({"tuple": {"a": 1}}), "JSON array"),
    (v2({"value": [1, 2]}), "value node"),
    (v2({"value": {"nested": 1}}), "value node"),
    (v2({"pickle": "os.system"}), "unknown node kind"),
    (v2({"list": [], "dict": []}), "unexpected fields"),
    (v2({"tensor": "a0", "device": "tpu:0"}), "device"),
    (v2({"tensor": "a0", "device": 3}), "device"),
    (v2({"tensor": "a0", "requires_grad": "yes"}), "requires_grad"),
    (v2({"tensor": "a0", "dtype": "float64"}), "dtype"),
    (v2({"tensor": "a0", "shape": [7]}), "shape"),
    (v2({"tensor": "a0", "grad_fn": "x"}), "unexpected fields"),
    (v2({"complex": [1.0]}), "complex node"),
    (v2({"complex": [True, 2]}), "complex node"),
    (v2({"dtype": "object"}), "unknown dtype"),
    (v2({"dtype": 7}), "unknown dtype"),
    (v2({"device": "tpu"}), "unknown device"),
    ({"format": "gpuad-state/99", "root": {"value": 1}}, "format"),
], ids=lambda v: v if isinstance(v, str) else None)
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hand_edited_manifest_raises_one_value_error_naming_the_file_and_problem(manifest, problem, fmt, tmp_path):
    path = tmp_path / "edited.gpuad"
    if isinstance(manifest, dict) and manifest.get("format") == "gpuad-state/2":
        manifest = dict(manifest, format=fmt)
    write_gpuad(path, manifest, {"a0": np.arange(3, dtype=np.float32)})
    assert problem in loads_with_one_value_error(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_requires_grad_on_an_integer_tensor_in_a_manifest_is_a_value_error(fmt, tmp_path):
    path = tmp_path / "edited.gpuad"
    write_gpuad(path, v2({"tensor": "a0", "requires_grad": True}, fmt), {"a0": np.arange(3)})
    assert "requires_grad" in loads_with_one_value_error(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_deep_nesting_is_refused_without_recursion_error(fmt, tmp_path):
    path = tmp_path / "deep.gpuad"
    root = '{"list": [' * 5000 + '{"value": 1}' + "]}" * 5000
    write_gpuad(path, '{"format": "%s", "root": ' % fmt + root + "}")
    assert "nested" in loads_with_one_value_error(path)


def test_saving_something_nested_too_deep_or_containing_itself_is_a_clear_error(tmp_path):
    cyclic = []
    cyclic.append(cyclic)
    deep = [1]
    for _ in range(G.serialization.MAX_DEPTH + 5):
        deep = [deep]
    for obj in (cyclic, deep):
        with pytest.raises(ValueError, match="nested more than"):
            G.save(obj, tmp_path / "x.gpuad")
    assert os.listdir(tmp_path) == []


def test_nesting_up_to_the_limit_round_trips(tmp_path):
    obj = "leaf"
    for i in range(G.serialization.MAX_DEPTH):
        obj = [obj] if i % 2 else {"k": obj}
    G.save(obj, tmp_path / "deep.gpuad")
    assert G.load(tmp_path / "deep.gpuad") == obj


# --- item 24: array headers that lie -----------------------------------------------------------------------------
def npy_header(shape, descr="<f8"):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_header_declaring_a_trillion_elements_allocates_nothing(fmt, tmp_path):
    path = tmp_path / "huge.gpuad"
    write_gpuad(path, v2({"tensor": "a0"}, fmt), raw_members={"a0.npy": npy_header((10 ** 12,)) + b"\0" * 64})
    tracemalloc.start()
    try:
        message = loads_with_one_value_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "declares shape" in message and peak < 16 << 20


@pytest.mark.parametrize("member,problem", [
    (npy_header((3,)) + b"\0" * 16, "holds 16 bytes"),         # fewer bytes than the shape needs
    (npy_header((2,)) + b"\0" * 24, "holds 24 bytes"),         # more
    (npy_header((2,), "|O") + b"\0" * 16, "dtype object"),     # would need pickle
    (npy_header((2,), "<U3") + b"\0" * 24, "dtype <U3"),
    (npy_header((-2,)) + b"\0" * 16, "shape"),
    (b"\x93NUMPY\x09\x00garbage", "version"),
], ids=["short", "long", "object", "unicode", "negative-shape", "npy-version"])
def test_a_member_whose_header_does_not_match_its_bytes_is_a_value_error(member, problem, tmp_path):
    path = tmp_path / "lying.gpuad"
    write_gpuad(path, v2({"array": "a0"}, "gpuad-state/1"), raw_members={"a0.npy": member})
    assert problem in loads_with_one_value_error(path)


def test_a_compressed_member_is_refused(tmp_path):
    path = tmp_path / "zipped.gpuad"
    with open(path, "wb") as fh:
        manifest = json.dumps(v2({"array": "a0"}, "gpuad-state/1")).encode()
        np.savez_compressed(fh, __gpuad_manifest__=np.frombuffer(manifest, dtype=np.uint8), a0=np.zeros(10 ** 6))
    assert "compressed" in loads_with_one_value_error(path)


def test_a_manifest_that_is_not_text_is_a_value_error(tmp_path):
    path = tmp_path / "manifest.gpuad"
    with open(path, "wb") as fh:
        np.savez(fh, __gpuad_manifest__=np.ones(3))
    assert "manifest" in loads_with_one_value_error(path)
    with open(path, "wb") as fh:
        np.savez(fh, __gpuad_manifest__=np.frombuffer(b"\xff\xfe{", dtype=np.uint8))
    loads_with_one_value_error(path)


def _valid_file_bytes():
    buf = io.BytesIO()
    G.save({"w": G.randn(4, 3), "opt": {"state": {0: {"step": G.tensor(2.0)}}, "lr": [0.1, (0.9, 0.999)]},
            "n": G.arange(5, dtype=G.int16), "flag": True, "name": "mlp", "none": None}, buf)
    return buf.getvalue()


def test_every_truncation_of_a_valid_file_is_a_value_error_naming_it(tmp_path):
    data, path = _valid_file_bytes(), tmp_path / "cut.gpuad"
    for n in range(0, len(data), 7):
        path.write_bytes(data[:n])
        loads_with_one_value_error(path)


def test_flipping_any_byte_of_a_valid_file_gives_a_value_error_or_a_clean_load():
    """Bytes the ZIP checks (CRC) do not cover may change harmlessly; anything else is one ValueError."""
    data, rng = _valid_file_bytes(), np.random.default_rng(0)
    outcomes = {"loaded": 0, "value_error": 0}
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= int(rng.integers(1, 256))
        try:
            G.load(io.BytesIO(bytes(damaged)))
            outcomes["loaded"] += 1
        except ValueError as exc:
            assert "<BytesIO>" in str(exc)
            outcomes["value_error"] += 1
    assert outcomes["value_error"] > len(data) // 2


# --- item 25: symlinks --------------------------------------------------------------------------------------------
def test_saving_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path):
    links, store = tmp_path / "links", tmp_path / "store"
    links.mkdir()
    store.mkdir()
    target, link = store / "ckpt.gpuad", links / "latest.gpuad"
    G.save({"version": 1}, target)
    link.symlink_to(target)
    G.save({"version": 2}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert G.load(target) == {"version": 2} and G.load(link) == {"version": 2}
    assert os.listdir(links) == ["latest.gpuad"] and os.listdir(store) == ["ckpt.gpuad"]  # no temp files left


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    target, link = tmp_path / "new.gpuad", tmp_path / "link.gpuad"
    link.symlink_to(target)
    G.save({"a": 1}, link)
    assert link.is_symlink() and G.load(target) == {"a": 1}


def test_a_failed_save_through_a_symlink_leaves_the_target_intact(tmp_path, monkeypatch):
    target, link = tmp_path / "ckpt.gpuad", tmp_path / "link.gpuad"
    G.save({"version": 1}, target)
    link.symlink_to(target)

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        G.save({"version": 2}, link)
    monkeypatch.undo()
    assert G.load(link) == {"version": 1} and sorted(os.listdir(tmp_path)) == ["ckpt.gpuad", "link.gpuad"]


def test_randomly_edited_manifests_load_or_raise_one_value_error():
    """Values swapped into random places of a real manifest: the file loads or raises ValueError, nothing else
    (a tensor moved to a GPU this machine lacks is the one RuntimeError, as in PyTorch)."""
    import random
    rnd = random.Random(0)
    buf = io.BytesIO()
    G.save({"w": G.randn(3, 4), "opt": {"state": {0: {"step": G.tensor(3.0)}}, "groups": [{"betas": (0.9, 0.99)}]},
            "v": [None, True, "s", 1.5]}, buf)
    with np.load(io.BytesIO(buf.getvalue())) as archive:
        manifest = json.loads(bytes(archive["__gpuad_manifest__"]).decode())
        arrays = {k: archive[k] for k in archive.files if k != "__gpuad_manifest__"}
    swaps = [None, 1, -1, 2 ** 70, 1.5, "a0", "x", [], {}, [1, 2], {"tensor": "a0"}, {"value": 1},
             {"dict": [[1, {"value": 2}]]}, True, "cpu", "float64", [3, 4]]

    def mutate(node):
        r = rnd.random()
        if isinstance(node, dict):
            node = {k: mutate(v) for k, v in node.items()}
            if node and r < 0.3:
                node[rnd.choice(list(node))] = rnd.choice(swaps)
            elif r < 0.4:
                node[rnd.choice(["tensor", "dict", "list", "value", "shape", "dtype", "zz"])] = rnd.choice(swaps)
            return node
        if isinstance(node, list):
            node = [mutate(v) for v in node]
            if node and r < 0.2:
                node[rnd.randrange(len(node))] = rnd.choice(swaps)
            return node
        return rnd.choice(swaps) if r < 0.1 else node

    errors = 0
    for _ in range(400):
        out = io.BytesIO()
        np.savez(out, __gpuad_manifest__=np.frombuffer(json.dumps(mutate(manifest)).encode(), dtype=np.uint8),
                 **arrays)
        out.seek(0)
        try:
            G.load(out)
        except ValueError as exc:
            assert "<BytesIO>" in str(exc)
            errors += 1
    assert errors > 100
