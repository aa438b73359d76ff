import os

import h5py
import numpy as np
import pytest

from taskspace.atomic import link_into_place, partial_path
from taskspace.errors import TaskspaceError
from taskspace.features import FeatureFile, FeatureWriter, write_features


def test_round_trip_and_provenance(tmp_path):
    path = tmp_path / "member.h5"
    vectors = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    write_features(
        path, {"probe": (np.arange(10), vectors)}, {"member": "m", "layer": -1, "hash": "ab"}, dtype="float16"
    )
    with FeatureFile(path) as f:
        assert f.sets == ["probe"]
        assert f.provenance == {"member": "m", "layer": -1, "hash": "ab"}
        assert f.vectors("probe").dtype == np.float16
        np.testing.assert_allclose(f.vectors("probe")[()], vectors, atol=2e-3)
        f.check_provenance({"member": "m", "layer": -1})
        with pytest.raises(TaskspaceError, match="made for another config: hash is 'ab', expected 'cd'"):
            f.check_provenance({"hash": "cd"})


def test_interrupted_writer_leaves_nothing_that_looks_finished(tmp_path):
    path = tmp_path / "member.h5"
    with pytest.raises(RuntimeError):
        with FeatureWriter(path, {"member": "m"}) as writer:
            writer.append("probe", np.arange(3), np.zeros((3, 2)))
            raise RuntimeError("killed")
    assert not path.exists() and not partial_path(path).exists()


def test_file_without_completeness_marker_is_refused(tmp_path):
    path = tmp_path / "member.h5"
    with h5py.File(path, "w") as h5:  # what a killed job that bypassed the writer would leave
        h5.attrs["format"] = "taskspace-features"
        h5.create_dataset("probe/vectors", data=np.zeros((2, 2)))
    with pytest.raises(TaskspaceError, match="member.h5: incomplete feature file"):
        FeatureFile(path)


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "member.h5"
    write_features(path, {"probe": (np.arange(1000), np.ones((1000, 64)))}, {"member": "m"})
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(TaskspaceError, match="member.h5: not a readable HDF5 file"):
        FeatureFile(path)


def test_a_linked_feature_file_is_the_same_file_and_newer(tmp_path):
    """lm_pass_member: a member's file is a hard link to its pass's file, with the link's time (newer than the
    pass folder's Snakemake timestamp, so the link is not redone)."""
    source = tmp_path / "pass" / "m.h5"
    write_features(source, {"probe": (np.zeros((2, 2), np.int64), np.ones((2, 3), np.float32))}, {"member": "m"})
    old = source.stat().st_mtime_ns - 10**9
    os.utime(source, ns=(old, old))
    target = tmp_path / "features" / "m" / "probe.h5"
    link_into_place(source, target)
    assert target.stat().st_ino == source.stat().st_ino and target.stat().st_mtime_ns > old
    assert not partial_path(target).exists()
    with FeatureFile(target) as features:
        assert features.provenance["member"] == "m" and features.vectors("probe")[()].sum() == 6
    link_into_place(source, target)  # again, over the file: still the one file
    assert target.stat().st_ino == source.stat().st_ino
