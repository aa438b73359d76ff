"""Precomputed members: vectors a user made elsewhere, one file per dataset in the member's ``features`` folder.

Two formats; for each dataset the HDF5 file is read when it exists, else the ``.npy`` files::

    <folder>/probe.h5            taskspace feature file (taskspace.features.write_features), set "probe"
    <folder>/<task>.h5           sets "train", "test" and "dev" when the task has one
                                 (optional: "train_source", ... with the source head's class probabilities)
    <folder>/probe.npy           float (n_items, width), rows in the probe's canonical order
    <folder>/<task>/train.npy    rows in the order of the task's canonical train table; dev.npy, test.npy

An HDF5 set's items are row indices (0 .. n-1, any order; the rows are put in order). Every set must have
exactly one row per item of its dataset and finite values; ``.npy`` files are read without pickles.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from .base import Embedded, Member, Pass, entry_json

PROBE = "probe"


def precomputed_files(entry: Mapping, dataset: str, set_name: str) -> tuple[Path, Path]:
    """(HDF5 file, .npy file) where the member's vectors of ``set_name`` of ``dataset`` may be."""
    folder = Path(entry["features"]).expanduser()
    npy = folder / f"{PROBE}.npy" if dataset == PROBE else folder / dataset / f"{set_name}.npy"
    return folder / f"{dataset}.h5", npy


def read_precomputed(entry: Mapping, dataset: str, set_name: str, n_items: int) -> np.ndarray:
    """float32 (n_items, width): the member's vectors of one set, rows in the dataset's canonical order.

    Raises naming the member and file when the file is missing, has another number of rows than the
    dataset has items (rows expected and found), or holds NaN or Inf.
    """
    name = entry["name"]
    h5, npy = precomputed_files(entry, dataset, set_name)
    if h5.is_file():
        path, vectors = h5, _read_h5(h5, set_name, name, n_items)
    elif npy.is_file():
        path, vectors = npy, _read_npy(npy, name)
    else:
        raise TaskspaceError(f"member {name}: no precomputed features for {dataset}/{set_name}: neither {h5} nor {npy}")
    if vectors.ndim != 2 or len(vectors) != n_items:
        found = f"{len(vectors)} rows" if vectors.ndim == 2 else f"shape {vectors.shape}"
        raise TaskspaceError(
            f"member {name}: {path} ({set_name}): expected {n_items} rows (the items of {dataset}), found {found}"
        )
    bad = int(vectors.size - np.count_nonzero(np.isfinite(vectors)))
    if bad:
        raise TaskspaceError(f"member {name}: {path} ({set_name}): {bad} values are NaN or Inf")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def precomputed_width(entry: Mapping) -> int:
    """The member's width, from its probe file's shape (nothing else is read)."""
    name = entry["name"]
    h5, npy = precomputed_files(entry, PROBE, PROBE)
    if h5.is_file():
        from ..features import FeatureFile

        with FeatureFile(h5) as features:
            return features.width(PROBE)
    if npy.is_file():
        shape = _npy_shape(npy, name)
        if len(shape) != 2:
            raise TaskspaceError(f"member {name}: {npy}: expected a matrix (items, width), found shape {shape}")
        return int(shape[1])
    raise TaskspaceError(f"member {name}: no precomputed probe features: neither {h5} nor {npy}")


class PrecomputedPass(Pass):
    """A member whose vectors exist already: extraction reads them with :func:`read_precomputed`."""

    kind = "features"

    def __init__(self, entries, modality: str):
        self.modality = modality
        self.name = entries[0]["name"]
        self.entries = [dict(e) for e in entries]
        self.precision = "float32"
        self.preprocess = _no_preprocess
        members = []
        for entry in entries:
            provenance = {"member": entry["name"], "kind": self.kind, "entry": entry_json(entry), **_as_given(entry)}
            members.append(Member(entry["name"], precomputed_width(entry), provenance))
        self._attach(members)

    def embed(self, batch) -> Embedded:
        raise TaskspaceError(f"member {self.name}: precomputed features are read (read_precomputed), not embedded")


def _no_preprocess(item):
    raise TaskspaceError("precomputed features are read (read_precomputed), not embedded")


def _as_given(entry) -> dict:
    return {"features": str(entry["features"])}


def _read_h5(path: Path, set_name: str, name: str, n_items: int) -> np.ndarray:
    from ..features import FeatureFile

    with FeatureFile(path) as features:
        if set_name not in features.sets:
            raise TaskspaceError(f"member {name}: {path} has no set {set_name!r} (it has {', '.join(features.sets)})")
        items = features.items(set_name)
        vectors = np.asarray(features.vectors(set_name)[()])
    rows = items.reshape(len(items), -1)[:, 0] if items.size else np.zeros(0, np.int64)
    if items.ndim == 2 and items.shape[1] != 1:
        raise TaskspaceError(
            f"member {name}: {path} ({set_name}): items must be row indices, found {items.shape[1]} columns"
        )
    if len(rows) == n_items and not np.array_equal(np.sort(rows), np.arange(n_items)):
        raise TaskspaceError(
            f"member {name}: {path} ({set_name}): items must be the row indices 0 .. {n_items - 1}, "
            f"found {rows.min()} .. {rows.max()} ({len(np.unique(rows))} distinct)"
        )
    return vectors[np.argsort(rows, kind="stable")] if len(rows) == n_items else vectors


def _read_npy(path: Path, name: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:  # object arrays need pickles: refused
        raise TaskspaceError(f"member {name}: {path}: not a numeric .npy array ({error})") from None
    except OSError as error:
        raise TaskspaceError(f"member {name}: {path}: not a readable .npy file ({error})") from None


def _npy_shape(path: Path, name: str) -> tuple:
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except (ValueError, OSError) as error:
        raise TaskspaceError(f"member {name}: {path}: not a readable numeric .npy file ({error})") from None
