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
    with pytest.raises(RuntimeError, match="map_location puts tensors saved on cpu on cuda:0 and no GPU"):
        G.load(tmp_path / "w.gpuad", map_location="cuda")
    assert G.load(tmp_path / "w.gpuad", map_location="cpu")[0].tolist() == [1.0, 1.0]
