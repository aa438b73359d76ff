"""Precomputed members: HDF5 feature files and .npy files, rows checked against the dataset."""

from __future__ import annotations

import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.features import write_features
from taskspace.members import check_entry, open_pass, read_precomputed


@pytest.fixture
def npy_member(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "npy" / "sentiment").mkdir(parents=True)
    np.save(tmp_path / "npy" / "probe.npy", rng.normal(size=(20, 6)))
    np.save(tmp_path / "npy" / "sentiment" / "train.npy", rng.normal(size=(12, 6)).astype(np.float32))
    return {"name": "mine", "features": str(tmp_path / "npy")}


def test_npy_files(npy_member):
    assert check_entry(npy_member, "text", "z") == "features"
    pass_ = open_pass([npy_member], "text")
    assert pass_.kind == "features" and pass_.members[0].width == 6 and not pass_.has_source_head
    probe = read_precomputed(npy_member, "probe", "probe", 20)
    assert probe.shape == (20, 6) and probe.dtype == np.float32
    np.testing.assert_array_equal(
        read_precomputed(npy_member, "sentiment", "train", 12), np.load(f"{npy_member['features']}/sentiment/train.npy")
    )


def test_shape_mismatch_names_member_file_and_rows(npy_member):
    with pytest.raises(TaskspaceError) as caught:
        read_precomputed(npy_member, "sentiment", "train", 15)
    assert str(caught.value) == (
        f"member mine: {npy_member['features']}/sentiment/train.npy (train): expected 15 rows (the items of "
        "sentiment), found 12 rows"
    )
    with pytest.raises(TaskspaceError, match=r"member mine: no precomputed features for sentiment/test: neither"):
        read_precomputed(npy_member, "sentiment", "test", 5)


def test_non_finite_values_and_pickles_are_refused(npy_member, tmp_path):
    bad = np.ones((20, 6))
    bad[3, 2] = np.nan
    np.save(f"{npy_member['features']}/probe.npy", bad)
    with pytest.raises(TaskspaceError, match=r"member mine: .*probe.npy \(probe\): 1 values are NaN or Inf"):
        read_precomputed(npy_member, "probe", "probe", 20)
    objects = np.empty(20, dtype=object)
    np.save(f"{npy_member['features']}/probe.npy", objects, allow_pickle=True)
    with pytest.raises(TaskspaceError, match=r"not a numeric .npy array"):
        read_precomputed(npy_member, "probe", "probe", 20)


def test_hdf5_feature_files_in_any_row_order(tmp_path):
    folder = tmp_path / "h5"
    vectors = np.arange(40, dtype=np.float32).reshape(10, 4)
    order = np.array([3, 1, 0, 2, 9, 8, 4, 5, 7, 6])
    write_features(folder / "probe.h5", {"probe": (order, vectors[order])}, {"member": "h"})
    write_features(
        folder / "task.h5",
        {"train": (np.arange(6), vectors[:6]), "train_source": (np.arange(6), np.full((6, 2), 0.5))},
        {"member": "h"},
    )
    entry = {"name": "h", "features": str(folder)}
    assert open_pass([entry], "image").members[0].width == 4
    np.testing.assert_array_equal(read_precomputed(entry, "probe", "probe", 10), vectors)
    assert read_precomputed(entry, "task", "train_source", 6).shape == (6, 2)
    with pytest.raises(TaskspaceError, match=r"task.h5 \(train\): expected 8 rows \(the items of task\), found 6"):
        read_precomputed(entry, "task", "train", 8)
    with pytest.raises(TaskspaceError, match=r"task.h5 has no set 'dev' \(it has train, train_source\)"):
        read_precomputed(entry, "task", "dev", 6)
    write_features(folder / "probe.h5", {"probe": (order + 1, vectors[order])}, {"member": "h"})
    with pytest.raises(TaskspaceError, match=r"items must be the row indices 0 .. 9, found 1 .. 10"):
        read_precomputed(entry, "probe", "probe", 10)
