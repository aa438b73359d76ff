"""Image data for the vision track: one interface, two real sources.

* ``cifar100``: CIFAR-100 through ``torchvision.datasets.CIFAR100`` from a folder the user names
  (downloaded there when ``download`` is on and the machine is online).
* ``digits``: scikit-learn's bundled 8x8 digit images (10 classes, ships with the package, so the demo runs
  offline), split into train and test pools by a fixed, seeded, stratified split.

Images are kept as uint8 arrays ``(N, H, W, C)``, as CIFAR stores them; ``to_float_tensor`` turns a batch
into the float ``(N, C, H, W)`` tensor in [0, 1] that the models read. An *image id* is the row index inside
its pool (``train`` or ``test``); the split and the feature files refer to images by these ids.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError

DATASETS = ("cifar100", "digits")
POOLS = ("train", "test")
CIFAR_FILES = ("train", "test", "meta")


@dataclass(frozen=True)
class ImagePool:
    """One pool of labelled images: uint8 ``(N, H, W, C)`` and int64 labels ``(N,)``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image dataset with a train pool and a test pool that share one class list."""

    name: str
    train: ImagePool
    test: ImagePool
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[3])

    def pool(self, name: str) -> ImagePool:
        if name not in POOLS:
            raise TaskspaceError(f"image pool {name!r} is not one of {', '.join(POOLS)}")
        return self.train if name == "train" else self.test

    def fingerprint(self) -> str:
        """A short hash of the images and labels: a split made for other data is refused by it."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(self.name.encode())
        for pool in (self.train, self.test):
            digest.update(str(pool.images.shape).encode())
            digest.update(np.ascontiguousarray(pool.labels, dtype=np.int64).tobytes())
            digest.update(np.ascontiguousarray(pool.images).tobytes())
        return digest.hexdigest()


def load_dataset(
    name: str, root=None, download: bool = False, seed: int = 0, test_fraction: float = 0.3
) -> ImageDataset:
    """The dataset a config names. ``root``/``download`` are for cifar100, ``seed``/``test_fraction`` for digits."""
    if name == "cifar100":
        return load_cifar100(root, download=download)
    if name == "digits":
        return load_digits(seed=seed, test_fraction=test_fraction)
    raise TaskspaceError(f"dataset: {name!r} is not one of {', '.join(DATASETS)}")


def load_cifar100(root, download: bool = False) -> ImageDataset:
    """CIFAR-100 (fine labels) from ``root``; ``root/cifar-100-python/{train,test,meta}`` after download."""
    if root is None or str(root) == "":
        raise TaskspaceError(
            "data_root: cifar100 needs a data folder (the folder that holds or will hold cifar-100-python/)"
        )
    root = Path(root).expanduser()
    folder = root / "cifar-100-python"
    import torchvision

    missing = [name for name in CIFAR_FILES if not (folder / name).is_file()]
    if missing and not download:
        raise TaskspaceError(
            f"{root}: no CIFAR-100 data there (missing {', '.join(str(folder / m) for m in missing)}); "
            "set download: true on a machine that is online, or copy cifar-100-python/ into that folder"
        )
    pools = []
    try:
        for train in (True, False):
            # Only the first call may download; torchvision checks the md5 of every file it reads.
            source = torchvision.datasets.CIFAR100(root=str(root), train=train, download=download and train)
            pools.append(
                ImagePool(np.ascontiguousarray(source.data, dtype=np.uint8), np.asarray(source.targets, dtype=np.int64))
            )
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
        raise TaskspaceError(
            f"{root}: CIFAR-100 files are missing or corrupted ({error}); delete {folder} and download again"
        ) from None
    except OSError as error:  # no network (URLError is an OSError), disk full, permissions
        raise TaskspaceError(
            f"{root}: could not download CIFAR-100 into this folder ({error}); copy cifar-100-python/ there by hand"
        ) from None
    return ImageDataset("cifar100", pools[0], pools[1], tuple(source.classes))


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> ImageDataset:
    """scikit-learn's 8x8 digits as one-channel uint8 images, split into train/test pools.

    The split is stratified (every digit keeps its share, ``test_fraction``, in the test pool) and seeded,
    so the same seed gives the same pools on every machine.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise TaskspaceError(f"test_fraction: {test_fraction!r} must lie strictly between 0 and 1")
    pixels, labels = _bundled_digits()
    # Pixel values are 0..16; stretch to 0..255 so both sources share the uint8 convention.
    images = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 8, 8, 1)
    rng = np.random.default_rng(int(seed))
    test_rows = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        n_test = min(max(1, int(round(test_fraction * len(rows)))), len(rows) - 1)
        test_rows.append(rng.permutation(rows)[:n_test])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test_rows)] = True
    # Rows stay in the order scikit-learn ships them, so image ids are stable.
    return ImageDataset(
        "digits",
        ImagePool(np.ascontiguousarray(images[~is_test]), labels[~is_test]),
        ImagePool(np.ascontiguousarray(images[is_test]), labels[is_test]),
        tuple(str(c) for c in range(10)),
    )


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """(pixels ``(1797, 64)`` in 0..16, labels) of the digits file that scikit-learn ships.

    Read straight from the package's data folder when it is where scikit-learn keeps it: importing
    ``sklearn.datasets`` costs about a second, paid by every job of the workflow that loads the data.
    """
    spec = importlib.util.find_spec("sklearn")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            if table.shape == (1797, 65):
                return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return bunch.data, bunch.target.astype(np.int64)


def to_float_tensor(images: np.ndarray):
    """uint8 ``(N, H, W, C)`` -> float32 torch tensor ``(N, C, H, W)`` in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
