"""gpuad.save / gpuad.load on the mistakes people make: a directory or a missing folder as the path, a PyTorch
checkpoint, something that is not a file, map_location='cuda' without a GPU. Each is one clear error naming it."""
import os

import pytest

import gpuad as G


def test_saving_to_a_directory_names_it_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        G.save({"w": G.ones(2)}, tmp_path)
    assert os.listdir(tmp_path) == [] and not any(n.startswith(".gpuad-save") for n in os.listdir(tmp_path.parent))


def test_saving_into_a_missing_folder_names_the_folder(tmp_path):
    missing = tmp_path / "runs" / "1"
    with pytest.raises(FileNotFoundError, match=f"the directory '{missing}'.*does not exist"):
        G.save({"w": G.ones(2)}, missing / "model.gpuad")


@pytest.mark.parametrize("zipfile_format", [True, False], ids=["zip", "legacy"])
def test_a_pytorch_checkpoint_is_named_as_a_pickle_gpuad_never_reads(tmp_path, zipfile_format):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=zipfile_format)
    with pytest.raises(ValueError, match="PyTorch torch.save file.*never unpickles"):
        G.load(path)


def test_loading_something_that_is_not_a_file_is_a_type_error():
    with pytest.raises(TypeError, match="load: f must be a path or a binary file object, got int"):
        G.load(3)


@pytest.mark.skipif(G.cuda.is_available(), reason="the error is for machines without a GPU")
def test_map_location_cuda_without_a_gpu_names_the_mapping(tmp_path):
    G.save([G.ones(2)], tmp_path / "w.gpuad")
    with pytest.raises(RuntimeError, match="map_location puts tensors saved on cpu on cuda:0, .*no GPU is available"):
        G.load(tmp_path / "w.gpuad", map_location="cuda")
    assert G.load(tmp_path / "w.gpuad", map_location="cpu")[0].tolist() == [1.0, 1.0]


def test_dtypes_devices_and_complex_numbers_round_trip_as_in_pytorch(tmp_path):
    """What PyTorch's weights-only loader reads besides tensors and plain values: a config saved with the model."""
    torch = pytest.importorskip("torch")
    ours = {"dtype": G.float64, "index": G.int64, "device": G.device("cpu"), "z": 1 + 2j, "w": G.ones(2)}
    G.save(ours, tmp_path / "ours.gpuad")
    torch.save({"dtype": torch.float64, "index": torch.int64, "device": torch.device("cpu"), "z": 1 + 2j,
                "w": torch.ones(2)}, tmp_path / "theirs.pt")
    back, theirs = G.load(tmp_path / "ours.gpuad"), torch.load(tmp_path / "theirs.pt", weights_only=True)
    assert str(back["dtype"]) == str(theirs["dtype"]).replace("torch.", "") == "float64"
    assert G.zeros(2, dtype=back["index"]).dtype == G.int64
    assert back["device"] == G.device("cpu") and str(back["device"]) == str(theirs["device"])
    assert back["z"] == theirs["z"] == 1 + 2j and type(back["z"]) is complex
    assert G.load(tmp_path / "ours.gpuad", map_location="cpu")["device"] == G.device("cpu")


@pytest.mark.parametrize("value,kind", [({1, 2}, "set"), (b"raw", "bytes"), (object(), "object")])
def test_what_gpuad_save_does_not_store_is_a_type_error_naming_it(value, kind, tmp_path):
    with pytest.raises(TypeError, match=rf"save: the object\['v'\] is a {kind}; gpuad.save stores"):
        G.save({"v": value}, tmp_path / "x.gpuad")
