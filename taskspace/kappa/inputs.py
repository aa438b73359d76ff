"""What every member brings to kappa (item keys, width, provenance, and a Gram sketch or a feature file), read from
its feature file and checked against the others; which items each member lacks."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import TaskspaceError

# Attributes of a feature file that identify the probe data it was made from (LM: the probe text's hash;
# vision: the split's hash and the probe rotations; others may record data_hash or probe_hash).
PROBE_DATA_KEYS = ("text_hash", "split_hash", "probe_rotations", "probe_hash", "data_hash")


def check_finite(x: np.ndarray, member: str) -> None:
    """Refuse a member's features with NaN or infinite values (named, with their count). The sum is one pass
    without a temporary the size of ``x``: a NaN or infinity anywhere makes it non-finite; only then (or when
    huge finite values overflow it) are the bad values counted."""
    if np.isfinite(x.sum()):
        return
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise TaskspaceError(f"member {member!r}: {bad} NaN or infinite feature values")


@dataclass
class _Member:
    """One member as kappa reads it: its name, item keys, width, provenance, and either a Gram sketch
    (``sketch``: path of the member job's file) or its feature file (``path``)."""

    name: str
    path: str
    items: np.ndarray
    width: int
    provenance: dict
    sketch: str | None = None


class _Keys:
    """Item keys behind the ``items(set_name)`` of a feature file (for taskspace.features.common_items)."""

    def __init__(self, items):
        self._items = items

    def items(self, set_name):
        return self._items


def check_options(block_items: int, memory_budget_mb: float | None) -> None:
    """Refuse options out of range where they enter (a block of no items, a budget of no memory)."""
    if isinstance(block_items, bool) or not isinstance(block_items, (int, np.integer)) or block_items < 1:
        raise TaskspaceError(f"block_items: must be a positive number of items, got {block_items!r}")
    if memory_budget_mb is not None and not (math.isfinite(memory_budget_mb) and memory_budget_mb > 0):
        raise TaskspaceError(f"memory budget: must be a positive number of MB, got {memory_budget_mb!r}")


def check_agree(members: list[_Member]) -> None:
    """Members whose files cannot belong to one kappa end in an error naming the files: the same file twice,
    the same member twice, item keys of different widths, features of different probe data."""
    seen, names = {}, {}
    for member in members:
        real = os.path.realpath(member.path)
        if real in seen:
            raise TaskspaceError(f"{seen[real]} and {member.path}: the same feature file given twice")
        seen[real] = member.path
        if member.name in names:
            raise TaskspaceError(f"{names[member.name]} and {member.path}: both are member {member.name!r}")
        names[member.name] = member.path
    first = members[0]
    for member in members[1:]:
        a, b = first.items.shape[1:] or (1,), member.items.shape[1:] or (1,)
        if a != b:
            raise TaskspaceError(
                f"{first.path} ({a[0]}-column item keys) and {member.path} ({b[0]}-column item keys): "
                "item keys of different widths, made from different probe data"
            )
    for key in PROBE_DATA_KEYS:
        having = [m for m in members if key in m.provenance]
        for member in having[1:]:
            if member.provenance[key] != having[0].provenance[key]:
                raise TaskspaceError(
                    f"{having[0].path} and {member.path}: made from different probe data "
                    f"({key} {_short(having[0].provenance[key])} against {_short(member.provenance[key])})"
                )


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 16 else text[:12] + "..."


def _read_member(path: str, member: str | None, set_name: str) -> _Member:
    """A member's keys, width and provenance from its feature file (vectors are not read here)."""
    from ..features import FeatureFile

    with FeatureFile(path) as f:
        if member and "member" in f.provenance:  # a file of another member (copied results, renamed members)
            f.check_provenance({"member": member})
        provenance = f.provenance
        items = f.items(set_name)
        width = f.width(set_name)
        rows = f.vectors(set_name).shape[0]
    if rows != len(items):
        raise TaskspaceError(f"{path}: {rows} {set_name!r} vectors for {len(items)} item keys")
    return _Member(member or provenance.get("member") or path, path, items, width, provenance)


def items_lacking(files, set_name: str = "probe") -> tuple[np.ndarray, int]:
    """How many items each feature file lacks of the items some file has, and how many items that is.

    Items every member lacks (e.g. words no tokenizer keeps) are not counted: kappa never had them.
    """
    return _lacking([f.items(set_name) for f in files])


def _lacking(items: list[np.ndarray]) -> tuple[np.ndarray, int]:
    keys = _item_codes(items)
    union = keys[0]
    for k in keys[1:]:
        union = np.union1d(union, k)
    return np.array([len(union) - len(np.unique(k)) for k in keys], dtype=np.int64), len(union)


def _item_codes(items: list[np.ndarray]) -> list[np.ndarray]:
    """One sortable int64 (or void) code per item key row, the same code for the same key in every array."""
    from ..features import _row_keys

    if all(i.ndim == 2 and i.shape[1] == 2 for i in items) and sum(len(i) for i in items):
        width = max(int(i[:, 1].max()) + 1 for i in items if len(i))  # (sentence, word): sentence x width + word
        return [i[:, 0].astype(np.int64) * width + i[:, 1] for i in items]
    return [_row_keys(i) for i in items]
