"""Zoo members of every kind behind one loader: each member a self-contained encoder.

An entry's keys choose its kind (:func:`member_kind`, checked by :func:`check_entry`): ``source`` a Hugging
Face checkpoint (:mod:`.hf_text` at sentence level, :mod:`.hf_image`), ``builder`` a torch module and a
weights file (:mod:`.builder`), ``features`` vectors made elsewhere (:mod:`.precomputed`), ``build`` a
small seeded model written first by :func:`build_member` (:mod:`.tiny`).

Members whose entries are equal but for ``name``, ``layer`` and ``pooling`` form one pass
(:func:`group_passes`): the checkpoint is loaded once by :func:`open_pass` and every batch goes through it
once for all of them::

    for pass_name, entries in group_passes(zoo["members"]).items():
        pass_ = open_pass(entries, "image", device="auto", precision="auto")
        for batch in preprocessed_batches(pass_, paths, load_image, batch_size=32, workers=2):
            out = pass_.embed(batch)          # Embedded: features[member] (B, width), source_probs
        # precomputed members (pass_.kind == "features"): read_precomputed(entry, dataset, set, n_items)

Importing this package does not import torch (the plan checks entries while Snakemake parses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..errors import TaskspaceError
from .base import Embedded, Member, Pass
from .batches import open_image, preprocessed_batches
from .entries import check_entry, group_passes, member_kind, pass_key
from .precomputed import read_precomputed

__all__ = [
    "Embedded",
    "Member",
    "Pass",
    "build_member",
    "check_entry",
    "group_passes",
    "member_kind",
    "open_image",
    "open_pass",
    "pass_key",
    "preprocessed_batches",
    "read_precomputed",
]


def open_pass(entries: Sequence[Mapping], modality: str, device: str = "auto", precision: str = "auto") -> Pass:
    """Load the checkpoint of one pass (entries from :func:`group_passes`) for all its members.

    ``device``: auto | cpu | cuda. ``precision`` (``extraction.precision``): auto (float16 on CUDA, float32
    on the CPU) | float32 | float16 | bfloat16. Built members must be built first (:func:`build_member`).
    Every failure is a one-line :class:`TaskspaceError` naming the member.
    """
    entries = [dict(e) for e in entries]
    if not entries:
        raise TaskspaceError("open_pass: no members")
    kinds = {member_kind(e, modality) for e in entries}
    keys = {pass_key(e) for e in entries}
    if len(keys) != 1 or len(kinds) != 1:
        names = ", ".join(e["name"] for e in entries)
        raise TaskspaceError(f"members {names}: not one pass (their entries differ in more than name, layer, pooling)")
    kind = kinds.pop()
    if kind == "build":
        raise TaskspaceError(f"member {entries[0]['name']}: a build member is built first (build_member), then opened")
    if kind == "features":
        from .precomputed import PrecomputedPass

        return PrecomputedPass(entries, modality)
    if kind == "builder":
        from .builder import BuilderPass

        return BuilderPass(entries, device, precision)
    if modality == "text":
        from .hf_text import HFTextPass

        return HFTextPass(entries, device, precision)
    from .hf_image import HFImagePass

    return HFImagePass(entries, device, precision)


def build_member(entry: Mapping, folder, seed: int = 0, texts: Iterable[str] | None = None) -> dict:
    """Write a ``build`` entry's tiny model into ``folder``; return the entry as the kind that reads it
    (see :func:`taskspace.members.tiny.build_member`)."""
    from .tiny import build_member as build

    return build(entry, folder, seed, texts)
