"""Image probes, ImageFolder trees, ``path label`` tables and load_image, with every one-line error."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from taskspace.errors import TaskspaceError
from taskspace.sources import images


def png(path, value=0, size=(4, 3), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode != "RGB" else (value, value, value)).save(path)
    return path


def raises(match, call, *args, **kwargs):
    with pytest.raises(TaskspaceError, match=match) as error:
        call(*args, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


def tree(root, splits):
    for split, classes in splits.items():
        for name, files in classes.items():
            for file in files:
                png(root / split / name / file)
    return root


def test_probe_folder_is_recursive_sorted_and_case_insensitive(tmp_path):
    folder = tmp_path / "probe"
    for name in ("b.PNG", "a.jpg", "sub/c.JpEg", "sub/a.tiff", "z.gif", "y.webp", "x.bmp", "w.tif"):
        png(folder / name)  # PIL picks the format by suffix
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden").mkdir()
    png(folder / ".hidden" / "skip.png")
    names = [path.relative_to(folder).as_posix() for path in images.probe_images(folder)]
    assert names == ["a.jpg", "b.PNG", "sub/a.tiff", "sub/c.JpEg", "w.tif", "x.bmp", "y.webp", "z.gif"]
    assert len(images.probe_images(folder, max_items=3)) == 3


def test_probe_list_file_relative_to_itself_with_comments(tmp_path):
    png(tmp_path / "imgs" / "b.png")
    png(tmp_path / "imgs" / "a.png")
    listing = tmp_path / "lists" / "probe.txt"
    listing.parent.mkdir()
    listing.write_text("# probe images\n../imgs/b.png\n\n../imgs/a.png\n")
    assert images.probe_images(listing) == [listing.parent / "../imgs/b.png", listing.parent / "../imgs/a.png"]
    listing.write_text("../imgs/b.png\n../imgs/gone.png\n")
    raises(re.escape(f"{listing}:2: image '../imgs/gone.png' not found"), images.probe_images, listing)
    listing.write_text("# nothing\n")
    raises("names no image", images.probe_images, listing)
    raises("probe images not found", images.probe_images, tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    raises("no images in folder", images.probe_images, tmp_path / "empty")


def test_imagefolder_classes_from_train_order_by_class_then_path(tmp_path):
    root = tree(
        tmp_path / "task",
        {
            "train": {"dog": ["2.png", "1.png"], "cat": ["b.png", "a/c.png"]},
            "test": {"dog": ["9.png"]},
            "dev": {"cat": ["5.png"], "dog": ["4.png"]},
        },
    )
    splits = images.read_imagefolder(root)
    assert set(splits) == {"train", "dev", "test"}
    train = splits["train"]
    assert train.classes == ["cat", "dog"]
    assert [p.relative_to(root / "train").as_posix() for p in train.paths] == [
        "cat/a/c.png",
        "cat/b.png",
        "dog/1.png",
        "dog/2.png",
    ]
    assert train.labels.dtype == np.int64 and train.labels.tolist() == [0, 0, 1, 1]
    assert splits["test"].labels.tolist() == [1] and splits["test"].classes == ["cat", "dog"]
    assert splits["dev"].labels.tolist() == [0, 1] and len(splits["dev"]) == 2
    no_dev = tree(tmp_path / "t2", {"train": {"a": ["1.png"]}, "test": {"a": ["2.png"]}})
    assert set(images.read_imagefolder(no_dev)) == {"train", "test"}


def test_imagefolder_errors(tmp_path):
    root = tree(tmp_path / "t", {"train": {"a": ["1.png"], "b": ["2.png"]}})
    raises(re.escape(f"{root}: no test split (folder {root / 'test'} not found)"), images.read_imagefolder, root)
    tree(root, {"test": {"c": ["3.png"]}})
    raises(
        re.escape(f"{root / 'test' / 'c'}: class 'c' is not among the training classes (a, b)"),
        images.read_imagefolder,
        root,
    )
    (root / "test" / "c" / "3.png").unlink()
    raises(re.escape(f"{root / 'test' / 'c'}: empty class folder"), images.read_imagefolder, root)
    (root / "test" / "c").rmdir()
    (root / "train" / "b" / "2.png").unlink()
    raises(re.escape(f"{root / 'train' / 'b'}: empty class folder"), images.read_imagefolder, root)
    raises("ImageFolder root not found", images.read_imagefolder, tmp_path / "absent")


def test_image_tables_header_natural_class_order_and_file_order(tmp_path):
    for name in ("x.png", "y.png", "z.png"):
        png(tmp_path / "img" / name)
    train = tmp_path / "train.csv"
    train.write_text('path,label,note\nimg/z.png,10,a\nimg/x.png,2,"b, c"\n\nimg/y.png,2,d\n')
    test = tmp_path / "test.tsv"
    test.write_text("label\tpath\n10\timg/x.png\n")
    splits = images.read_image_tables(train, test)
    assert set(splits) == {"train", "test"}
    assert splits["train"].classes == ["2", "10"]  # numerically, not "10" < "2"
    assert [p.name for p in splits["train"].paths] == ["z.png", "x.png", "y.png"]
    assert splits["train"].labels.tolist() == [1, 0, 0]
    assert splits["test"].labels.tolist() == [1]
    dev = tmp_path / "dev.tsv"
    dev.write_text("path\tlabel\nimg/y.png\t2\n")
    assert images.read_image_tables(train, test, dev=dev)["dev"].labels.tolist() == [0]


def test_image_table_errors(tmp_path):
    png(tmp_path / "a.png")
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text("path\tlabel\na.png\tcat\n")
    test.write_text("path\tclass\na.png\tcat\n")
    raises(
        re.escape(f"{test}:1: no column 'label' (columns found: 'path', 'class')"),
        images.read_image_tables,
        train,
        test,
    )
    test.write_text("path\tlabel\na.png\tcat\n\nmissing.png\tcat\n")
    raises(re.escape(f"{test}:4: image 'missing.png' not found"), images.read_image_tables, train, test)
    test.write_text("path\tlabel\na.png\tdog\n")
    raises(
        re.escape(f"{test}:2: class 'dog' is not among the training classes (cat)"),
        images.read_image_tables,
        train,
        test,
    )
    test.write_text("path\tlabel\na.png\n")
    raises(re.escape(f"{test}:2: 1 fields but the header has 2"), images.read_image_tables, train, test)
    raises("no test split", images.read_image_tables, train, None)
    train.write_text("path\tlabel\n")
    raises(re.escape(f"{train}: image table has no rows"), images.read_image_tables, train, test)
    odd = tmp_path / "train.txt"
    odd.write_text("a.png cat\n")
    raises("must end in .csv, .tsv, .tab, .jsonl", images.read_image_tables, odd, test)


def test_load_image_rgb_and_corrupt_files(tmp_path):
    grey = png(tmp_path / "grey.png", value=7, mode="L")
    image = images.load_image(grey)
    assert image.mode == "RGB" and image.size == (4, 3) and image.getpixel((0, 0)) == (7, 7, 7)
    palette = tmp_path / "p.gif"
    Image.new("P", (2, 2), 1).save(palette, transparency=1)
    assert images.load_image(palette).mode == "RGB"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "big.png")
    truncated = tmp_path / "truncated.png"
    data = (tmp_path / "big.png").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])  # the header reads; decoding the pixels fails
    raises(re.escape(f"{truncated}: unreadable or corrupt image"), images.load_image, truncated)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    raises(re.escape(f"{junk}: unreadable or corrupt image"), images.load_image, junk)
    raises("image not found", images.load_image, tmp_path / "gone.png")
