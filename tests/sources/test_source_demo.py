"""The demo's zoo data from installed packages, read back through taskspace.sources."""

from __future__ import annotations

import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.sources import demo
from taskspace.sources.images import load_image, probe_images, read_imagefolder
from taskspace.sources.text import read_text_probe, read_text_task


def files(root):
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_digits_imagefolder_reads_back_disjoint_and_seeded(tmp_path):
    sizes = {"probe_per_class": 2, "train_per_class": 3, "dev_per_class": 1, "test_per_class": 2, "size": 16}
    classes = demo.write_digits_imagefolder(tmp_path / "a", {"three": 3, "fixed": [7, 1]}, seed=5, **sizes)
    assert classes["fixed"] == [1, 7] and len(classes["three"]) == 3
    probe = probe_images(tmp_path / "a" / "probe")
    assert len(probe) == 20
    task = read_imagefolder(tmp_path / "a" / "three")
    assert task["train"].classes == [f"digit{c}" for c in classes["three"]]
    assert [len(task[s]) for s in ("train", "dev", "test")] == [9, 3, 6]
    assert task["test"].labels.tolist() == [0, 0, 1, 1, 2, 2]
    image = load_image(task["train"].paths[0])
    assert image.mode == "RGB" and image.size == (16, 16)
    pixels = np.asarray(image)
    assert (pixels[..., 0] == pixels[..., 2]).all() and pixels.max() > 100
    # each digits image once over the probe and every task
    names = [path.name for path in (tmp_path / "a").rglob("*.png")]
    assert len(names) == len(set(names)) == 20 + 5 * (3 + 1 + 2)
    demo.write_digits_imagefolder(tmp_path / "b", {"three": 3, "fixed": [7, 1]}, seed=5, **sizes)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    demo.write_digits_imagefolder(tmp_path / "c", {"t": [0, 1]}, seed=0, probe_per_class=1, dev_per_class=0)
    assert set(read_imagefolder(tmp_path / "c" / "t")) == {"train", "test"}


def test_digits_asks_within_the_data(tmp_path):
    with pytest.raises(TaskspaceError, match="digits: task t needs 200 more images of digit 0"):
        demo.write_digits_imagefolder(tmp_path / "too-many", {"t": [0, 1]}, train_per_class=200)
    assert not (tmp_path / "too-many").exists()  # refused before any image is written
    with pytest.raises(TaskspaceError, match="11 classes; choose 2 to 10"):
        demo.write_digits_imagefolder(tmp_path / "too-many-classes", {"t": 11})
    assert not (tmp_path / "too-many-classes").exists()


def test_polarity_sentences_are_the_real_file():
    rows = demo.polarity_sentences()
    assert len(rows) == 200 and sorted({label for _, label in rows}) == ["neg", "pos"]
    assert sum(label == "pos" for _, label in rows) == 100
    assert rows[0] == ("simplistic , silly and tedious .", "neg")
    assert any("\u2014" in text for text, _ in rows)  # cp1252's em dash, decoded


def test_polarity_tables_read_back_stratified_and_seeded(tmp_path):
    counts = demo.write_polarity_tables(tmp_path / "a", seed=3, probe_sentences=40)
    assert counts == {"train": 120, "dev": 40, "test": 40, "probe": 40}
    task = read_text_task(tmp_path / "a" / "train.tsv", tmp_path / "a" / "test.tsv", dev=tmp_path / "a" / "dev.tsv")
    assert task["train"].classes == ["neg", "pos"]
    assert np.bincount(task["test"].labels).tolist() == [20, 20]
    assert np.bincount(task["train"].labels).tolist() == [60, 60]
    texts = {text for split in task.values() for text in split.texts}
    assert len(texts) == 200 and texts == {text for text, _ in demo.polarity_sentences()}  # quotes kept verbatim
    assert len(read_text_probe(tmp_path / "a" / "probe.txt")) == 40
    demo.write_polarity_tables(tmp_path / "b", seed=3, probe_sentences=40)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    small = demo.write_polarity_tables(
        tmp_path / "c", dev_per_class=0, test_per_class=10, train_per_class=5, probe_sentences=None
    )
    assert small == {"train": 10, "test": 20} and sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "test.tsv",
        "train.tsv",
    ]
    with pytest.raises(TaskspaceError, match="polarity: 90 \\+ 20 \\+ 20 sentences of label 'neg'"):
        demo.write_polarity_tables(tmp_path / "d", train_per_class=90)
