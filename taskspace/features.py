"""Feature files: one HDF5 per member (and dataset), the unit that travels between rules.

Layout::

    /                      attrs: format, format_version, provenance keys (member, source, ...), complete
    /<set>/vectors         float32 or float16, (n_items, width), chunked by rows
    /<set>/items           int64, (n_items, key_width): item keys, e.g. (image,) or (sentence, word)

A *set* is one group of items embedded by the member: ``probe`` (what kappa is built from), ``train``,
``dev``, ``test`` or task-specific names. Items are identified by integer keys so that kappa can align
members that lost different items (for example words cut off by a model's maximum length).

Files are written to a hidden partial name beside the target and renamed only when complete, and the
``complete`` attribute is set last: a killed job never leaves a file that looks finished, and readers
refuse files without the marker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import h5py
import numpy as np

from .atomic import partial_path
from .errors import TaskspaceError

FORMAT = "taskspace-features"
FORMAT_VERSION = 1
ROW_CHUNK_BYTES = 1 << 20


class FeatureWriter:
    """Append vectors set by set; on clean exit mark the file complete and move it into place.

    ``provenance`` values must be str, int, float or bool; anything else is stored as JSON.
    """

    def __init__(self, path, provenance: Mapping[str, object], dtype="float32"):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.dtype = np.dtype(dtype)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial.unlink(missing_ok=True)  # a killed earlier attempt starts over cleanly
        self.h5 = h5py.File(self.partial, "w")
        self.h5.attrs["format"] = FORMAT
        self.h5.attrs["format_version"] = FORMAT_VERSION
        for key, value in provenance.items():
            self.h5.attrs[key] = _attr_value(value)

    def append(self, set_name: str, items, vectors) -> None:
        items = np.asarray(items, dtype=np.int64)
        if items.ndim == 1:
            items = items[:, None]
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or len(vectors) != len(items):
            raise ValueError(f"set {set_name!r}: {len(items)} item keys for vectors of shape {vectors.shape}")
        if set_name not in self.h5:
            group = self.h5.create_group(set_name)
            rows = max(1, min(4096, ROW_CHUNK_BYTES // max(1, vectors.shape[1] * self.dtype.itemsize)))
            group.create_dataset(
                "vectors",
                shape=(0, vectors.shape[1]),
                maxshape=(None, vectors.shape[1]),
                dtype=self.dtype,
                chunks=(rows, vectors.shape[1]),
            )
            group.create_dataset(
                "items",
                shape=(0, items.shape[1]),
                maxshape=(None, items.shape[1]),
                dtype=np.int64,
                chunks=(max(1, 65536 // items.shape[1]), items.shape[1]),
            )
        group = self.h5[set_name]
        for name, block in (("vectors", vectors), ("items", items)):
            dataset = group[name]
            start = dataset.shape[0]
            dataset.resize(start + len(block), axis=0)
            dataset[start:] = block

    def close(self, ok: bool = True) -> None:
        if self.h5 is None:
            return
        try:
            if ok:
                self.h5.attrs["complete"] = True
        finally:
            self.h5.close()
            self.h5 = None
        if ok:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(ok=exc_type is None)
        return False


def write_features(path, sets: Mapping[str, tuple], provenance: Mapping[str, object], dtype="float32") -> None:
    """Write whole sets at once: ``sets`` maps set name to (items, vectors)."""
    with FeatureWriter(path, provenance, dtype=dtype) as writer:
        for name, (items, vectors) in sets.items():
            writer.append(name, items, vectors)


class FeatureFile:
    """Read-only view of a complete feature file. Vectors are read lazily, slice by slice."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise TaskspaceError(f"{self.path}: feature file not found")
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError as error:
            raise TaskspaceError(f"{self.path}: not a readable HDF5 file (truncated?): {error}") from None
        attrs = self.h5.attrs
        if attrs.get("format") != FORMAT:
            self.h5.close()
            raise TaskspaceError(f"{self.path}: not a taskspace feature file")
        if not attrs.get("complete", False):
            self.h5.close()
            raise TaskspaceError(f"{self.path}: incomplete feature file (its job was interrupted); delete it and rerun")

    @property
    def provenance(self) -> dict:
        skip = {"format", "format_version", "complete"}
        return {key: _from_attr(value) for key, value in self.h5.attrs.items() if key not in skip}

    @property
    def sets(self) -> list[str]:
        return list(self.h5.keys())

    def _group(self, set_name: str):
        if set_name not in self.h5:
            raise TaskspaceError(f"{self.path}: has no feature set {set_name!r} (it has {', '.join(self.sets)})")
        return self.h5[set_name]

    def items(self, set_name: str) -> np.ndarray:
        return self._group(set_name)["items"][()]

    def vectors(self, set_name: str) -> h5py.Dataset:
        return self._group(set_name)["vectors"]

    def width(self, set_name: str) -> int:
        return int(self.vectors(set_name).shape[1])

    def check_provenance(self, expected: Mapping[str, object]) -> None:
        """Raise naming the first attribute that differs from what the config says it should be."""
        have = self.provenance
        for key, value in expected.items():
            if key not in have:
                raise TaskspaceError(f"{self.path}: provenance attribute {key!r} is missing (expected {value!r})")
            if _from_attr(_attr_value(value)) != have[key]:
                raise TaskspaceError(
                    f"{self.path}: made for another config: {key} is {have[key]!r}, expected {value!r}; "
                    "delete it and rerun"
                )

    def close(self) -> None:
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def common_items(files: list[FeatureFile], set_name: str) -> list[np.ndarray]:
    """For each file, the rows of the items that every file has, in the first file's row order.

    Keeping the first file's order means files written in the same item order are read in increasing
    row order, slice by slice.
    """
    keyed = [_row_keys(f.items(set_name)) for f in files]
    shared = keyed[0]
    for keys in keyed[1:]:
        shared = shared[np.isin(shared, keys)]
    rows = []
    for keys in keyed:
        order = np.argsort(keys, kind="stable")
        rows.append(order[np.searchsorted(keys, shared, sorter=order)])
    return rows


def aligned_blocks(
    files: list[FeatureFile], set_name: str, rows: list[np.ndarray], block_items: int
) -> Iterator[list[np.ndarray]]:
    """Yield, block by block over the shared items, one float array per file; each file is read once.

    Each file's rows of a block are read as one contiguous slice (cheap when the files store items in
    the same order, the usual case) and the rows other members lack are dropped.
    """
    n = len(rows[0])
    for start in range(0, n, block_items):
        block = []
        for f, file_rows in zip(files, rows):
            wanted = file_rows[start : start + block_items]
            low, high = int(wanted.min()), int(wanted.max()) + 1
            block.append(np.asarray(f.vectors(set_name)[low:high])[wanted - low])
        yield block


def _row_keys(items: np.ndarray) -> np.ndarray:
    """One sortable key per row of an (n, c) integer key array."""
    items = np.ascontiguousarray(items, dtype=np.int64)
    if items.ndim == 1 or items.shape[1] == 1:
        return items.reshape(-1)
    return items.view(np.dtype((np.void, items.dtype.itemsize * items.shape[1]))).reshape(-1)


def _attr_value(value):
    if isinstance(value, (str, bool, int, float, np.integer, np.floating)):
        return value
    return json.dumps(value, sort_keys=True)


def _from_attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
