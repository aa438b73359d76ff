"""Spread over jobs: a member's own job reads its feature file once and writes its sketch (:func:`sketch_member`,
:func:`save_sketch`); the combine reads them (:func:`read_sketch`, :func:`taskspace.kappa.kappa_from_sketches`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import TaskspaceError
from .forms import GRAM_ITEMS_PER_WIDTH, gram_pays
from .inputs import check_finite, check_options

SKETCH_FORMAT = "taskspace-kappa-member"
SKETCH_VERSION = 1


@dataclass
class MemberSketch:
    """What a member's own job hands the combine: its item keys and width, its feature file's provenance, and
    its centred Gram over its own items when that pays (:func:`gram_pays`), else None (the combine then reads
    the member's features itself)."""

    member: str
    feature_file: str
    set_name: str
    items: np.ndarray
    width: int
    provenance: dict
    gram: np.ndarray | None = None

    def describe(self) -> str:
        n, d = len(self.items), self.width
        if self.gram is not None:
            return (
                f"member {self.member!r}: {n} items x {d} columns: its {n} x {n} centred Gram "
                f"({8 * n * n / 2**20:.1f} MB, n^2 d/2 = {n * n * d / 2:.2g} multiply-adds; "
                f"n <= {GRAM_ITEMS_PER_WIDTH} d)"
            )
        return (
            f"member {self.member!r}: {n} items x {d} columns: its item keys only (n > {GRAM_ITEMS_PER_WIDTH} d "
            "or over the memory budget: the Gram would outweigh the features; the combine reads them)"
        )


def sketch_member(
    path, member: str | None = None, set_name: str = "probe", memory_budget_mb: float | None = None, gram=None
) -> MemberSketch:
    """A member's sketch from its feature file, read once: the Gram when ``gram`` (default: :func:`gram_pays`)."""
    from ..features import FeatureFile

    if memory_budget_mb is not None:
        check_options(1, memory_budget_mb)
    path = str(path)
    with FeatureFile(path) as f:
        if member and "member" in f.provenance:
            f.check_provenance({"member": member})
        provenance = f.provenance
        items = f.items(set_name)
        width = f.width(set_name)
        name = member or provenance.get("member") or path
        made = None
        if gram_pays(len(items), width, memory_budget_mb) if gram is None else gram:
            x = np.asarray(f.vectors(set_name)[()], dtype=np.float64)
            if len(x) != len(items):
                raise TaskspaceError(f"{path}: {len(x)} {set_name!r} vectors for {len(items)} item keys")
            check_finite(x, name)
            x -= x.mean(axis=0)
            made = x @ x.T  # a symmetric product (syrk)
    return MemberSketch(name, path, set_name, items, width, provenance, made)


def save_sketch(sketch: MemberSketch, path) -> None:
    """The sketch file (HDF5, written under a partial name and renamed when complete)."""
    import json

    import h5py

    from ..atomic import atomic_path

    with atomic_path(path) as partial, h5py.File(partial, "w") as h5:
        h5.attrs["format"] = SKETCH_FORMAT
        h5.attrs["format_version"] = SKETCH_VERSION
        h5.attrs["member"] = sketch.member
        h5.attrs["feature_file"] = sketch.feature_file
        h5.attrs["set"] = sketch.set_name
        h5.attrs["width"] = sketch.width
        h5.attrs["provenance"] = json.dumps(sketch.provenance, sort_keys=True, default=str)
        h5.create_dataset("items", data=np.asarray(sketch.items, dtype=np.int64))
        if sketch.gram is not None:
            h5.create_dataset("gram", data=sketch.gram)  # contiguous: rows are read a chunk at a time


def read_sketch(path) -> tuple[MemberSketch, bool]:
    """A sketch file's contents without its Gram, and whether it holds one (the combine reads it by rows)."""
    import json

    import h5py

    path = str(path)
    if not os.path.exists(path):
        raise TaskspaceError(f"{path}: member sketch not found")
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise TaskspaceError(f"{path}: not a readable HDF5 file (truncated?): {error}") from None
    with h5:
        if h5.attrs.get("format") != SKETCH_FORMAT or h5.attrs.get("format_version") != SKETCH_VERSION:
            raise TaskspaceError(f"{path}: not a kappa member sketch of this version; delete it and rerun")
        sketch = MemberSketch(
            member=str(h5.attrs["member"]),
            feature_file=str(h5.attrs["feature_file"]),
            set_name=str(h5.attrs["set"]),
            items=h5["items"][()],
            width=int(h5.attrs["width"]),
            provenance=json.loads(h5.attrs["provenance"]),
        )
        return sketch, "gram" in h5
