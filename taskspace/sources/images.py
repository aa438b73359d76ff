"""Image data of a zoo space: the probe images and the tasks' labelled splits, in the field's formats.

- **Probe**: a folder of images (searched recursively; files with a suffix of :data:`IMAGE_SUFFIXES`, any
  case; sorted by their path relative to the folder) or a list file (one image path a line, relative to the
  list file; blank lines and ``#`` comments skipped; file order).
- **ImageFolder tree** (torchvision's ``ImageFolder``, LogME's input): ``root/train/<class>/...``, optional
  ``root/dev/<class>/...``, ``root/test/<class>/...``; the classes are the sorted folder names of ``train``;
  images are found recursively inside a class folder; canonical order: by class, then by path.
- **Tables of ``path label``** (tllib's ``ImageList``, as CSV or TSV): one table per split, a header row
  naming at least the columns ``path`` and ``label`` (other columns are ignored), paths relative to the
  table; canonical order: the table's. Classes: the training table's labels in natural order (numbers
  numerically, names alphabetically: :func:`taskspace.sources.tables.class_order`).

A split's ``labels`` index its ``classes``; dev and test use the training split's classes, so a class the
training split lacks is an error. Images are decoded only by :func:`load_image` (in the extraction job's
data-loader workers), never while a split is read; a table's paths are checked to exist, a folder's exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from .tables import class_order, read_table, read_utf8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "dev", "test")
REQUIRED_SPLITS = ("train", "test")


@dataclass(frozen=True)
class ImageSplit:
    """One split of an image task: image paths in canonical order, their class indices, the class names."""

    paths: list[Path]
    labels: np.ndarray  # int64, indices into classes
    classes: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def is_image(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _images_under(folder: Path) -> list[Path]:
    """Image files below a folder, recursively, sorted by path relative to it; hidden entries skipped."""
    found = [
        path
        for path in folder.rglob("*")
        if is_image(path)
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda path: path.relative_to(folder).as_posix())


def _list_file(path: Path) -> list[Path]:
    paths = []
    for number, line in enumerate(read_utf8(path, "image list").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        image = path.parent / line
        if not image.is_file():
            raise TaskspaceError(f"{path}:{number}: image {line!r} not found (looked for {image})")
        paths.append(image)
    if not paths:
        raise TaskspaceError(f"{path}: image list names no image")
    return paths


def probe_images(source, max_items: int | None = None) -> list[Path]:
    """The probe images of a folder or a list file (module docstring), the first ``max_items`` if given."""
    source = Path(source)
    if source.is_dir():
        paths = _images_under(source)
        if not paths:
            raise TaskspaceError(f"{source}: no images in folder (suffixes: {' '.join(IMAGE_SUFFIXES)})")
    elif source.is_file():
        paths = _list_file(source)
    else:
        raise TaskspaceError(f"{source}: probe images not found (a folder of images or a list file)")
    return paths[:max_items] if max_items is not None else paths


def _class_folders(folder: Path) -> dict[str, list[Path]]:
    classes = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            images = _images_under(entry)
            if not images:
                raise TaskspaceError(f"{entry}: empty class folder (no images; suffixes: {' '.join(IMAGE_SUFFIXES)})")
            classes[entry.name] = images
        elif is_image(entry):
            raise TaskspaceError(f"{entry}: image outside a class folder (expected {folder}/<class>/<image>)")
    if not classes:
        raise TaskspaceError(f"{folder}: no class folders (expected {folder}/<class>/<image>)")
    return classes


def _missing_split(where, split: str, what: str):
    raise TaskspaceError(f"{where}: no {split} split ({what}); a task needs {' and '.join(REQUIRED_SPLITS)}")


def read_imagefolder(root) -> dict[str, ImageSplit]:
    """``root/{train,dev,test}/<class>/...`` -> {split: ImageSplit}; ``dev`` only when the folder exists."""
    root = Path(root)
    if not root.is_dir():
        raise TaskspaceError(f"{root}: ImageFolder root not found (expected {root}/train/<class>/<image>)")
    for split in REQUIRED_SPLITS:
        if not (root / split).is_dir():
            _missing_split(root, split, f"folder {root / split} not found")
    folders = {split: _class_folders(root / split) for split in SPLITS if (root / split).is_dir()}
    classes = sorted(folders["train"])
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split, by_class in folders.items():
        unseen = [name for name in by_class if name not in index]
        if unseen:
            raise TaskspaceError(
                f"{root / split / unseen[0]}: class {unseen[0]!r} is not among the training classes "
                f"({', '.join(classes)})"
            )
        paths = [path for name in by_class for path in by_class[name]]
        labels = np.array([index[name] for name in by_class for _ in by_class[name]], dtype=np.int64)
        splits[split] = ImageSplit(paths=paths, labels=labels, classes=classes)
    return splits


def _read_image_table(path: Path) -> list[tuple[int, Path, str]]:
    table = read_table(path, "image table")
    table.require("path", "label")
    rows = []
    for line, row in table.rows:
        name, label = row["path"].strip(), row["label"].strip()
        if not name:
            raise TaskspaceError(f"{path}:{line}: empty path")
        if not label:
            raise TaskspaceError(f"{path}:{line}: empty label")
        image = path.parent / name
        if not image.is_file():
            raise TaskspaceError(f"{path}:{line}: image {name!r} not found (looked for {image})")
        rows.append((line, image, label))
    return rows


def read_image_tables(train, test, dev=None) -> dict[str, ImageSplit]:
    """``path label`` tables (CSV or TSV), one a split -> {split: ImageSplit}; ``dev`` only when given."""
    given = {"train": train, "dev": dev, "test": test}
    for split in REQUIRED_SPLITS:
        if given[split] is None:
            _missing_split("image tables", split, "no table given")
    read = {split: _read_image_table(Path(table)) for split, table in given.items() if table is not None}
    classes = class_order(label for _, _, label in read["train"])
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split, rows in read.items():
        for line, _, label in rows:
            if label not in index:
                raise TaskspaceError(
                    f"{given[split]}:{line}: class {label!r} is not among the training classes "
                    f"({', '.join(classes)}) of {given['train']}"
                )
        labels = np.array([index[label] for _, _, label in rows], dtype=np.int64)
        splits[split] = ImageSplit(paths=[image for _, image, _ in rows], labels=labels, classes=classes)
    return splits


def load_image(path):
    """The image at ``path`` fully decoded as RGB (a PIL image); unreadable or corrupt is a one-line error.

    Greyscale and palette images are converted to RGB and an alpha channel is dropped (as torchvision's
    ``pil_loader`` does); of an animated GIF the first frame is taken.
    """
    from PIL import Image  # here, so that reading a split's paths never needs PIL

    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here, not in a model's preprocessing
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")  # PIL's advice for palette transparency before dropping it
            return image.convert("RGB")
    except FileNotFoundError:
        raise TaskspaceError(f"{path}: image not found") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # PIL raises OSError (UnidentifiedImageError, truncated data), SyntaxError or ValueError on bad files.
        raise TaskspaceError(f"{path}: unreadable or corrupt image: {error}") from None
