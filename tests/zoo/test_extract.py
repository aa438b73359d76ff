"""The pass job without Snakemake, on precomputed members (no torch): feature files as the plan names them,
and the one-line errors of bad inputs at the job that reads them."""

import shutil

import numpy as np
import pytest
from conftest import ZOO_DATA

from taskspace.errors import TaskspaceError
from taskspace.features import FeatureFile
from taskspace.zoo.extract import extract_pass

TABLE = {"format": "table", "train": "text/polarity-train.csv", "test": "text/polarity-test.csv"}
TABLE.update(text="sentence", label="sentiment", kind="classification")


@pytest.fixture
def data(tmp_path, monkeypatch):
    shutil.copytree(ZOO_DATA, tmp_path / "data")
    monkeypatch.chdir(tmp_path / "data")
    return tmp_path / "data"


def settings(dataset, data_entry, member="precomputed-npy", folder="features/text-npy"):
    return dict(
        zoo="z",
        input="text",
        entries=[{"name": member, "features": folder}],
        built=None,
        dataset=dataset,
        data=data_entry,
        extraction={"batch_size": 4, "precision": "auto", "workers": 0},
    )


def test_precomputed_npy_and_h5_become_feature_files(data, tmp_path):
    [path] = extract_pass(settings("polarity", TABLE), tmp_path / "out")
    with FeatureFile(path) as f:
        assert f.provenance["member"] == "precomputed-npy"
        assert {name: len(f.items(name)) for name in f.sets} == {"train": 12, "test": 8}
        np.testing.assert_array_equal(f.vectors("train")[()], np.load("features/text-npy/polarity/train.npy"))
    probe = {"text": "text/probe.tsv", "column": "sentence", "max_items": None}
    [path] = extract_pass(settings("probe", probe, "h5", "features/text-h5"), tmp_path / "h5")
    with FeatureFile(path) as f:
        assert f.sets == ["probe"] and f.width("probe") == 5


def test_missing_column_is_named_at_the_job(data, tmp_path):
    with pytest.raises(TaskspaceError, match=r"polarity-train\.csv.*'review'"):
        extract_pass(settings("polarity", {**TABLE, "text": "review"}), tmp_path / "out")


def test_rows_that_do_not_match_the_data_are_named(data, tmp_path):
    np.save("features/text-npy/polarity/test.npy", np.zeros((5, 6), np.float32))
    with pytest.raises(TaskspaceError, match=r"test\.npy \(test\): expected 8 rows"):
        extract_pass(settings("polarity", TABLE), tmp_path / "out")
    assert not (tmp_path / "out" / "precomputed-npy.h5").exists()  # no partial output that looks finished


def test_missing_test_split_file_is_named(data, tmp_path):
    with pytest.raises(TaskspaceError, match="nowhere.csv"):
        extract_pass(settings("polarity", {**TABLE, "test": "text/nowhere.csv"}), tmp_path / "out")
