"""The pass job: one checkpoint's members (its layers and poolings) embed one dataset, one feature file each.

Images are decoded and preprocessed in DataLoader worker processes (``Pass.preprocess``, picklable) while the
model runs on the previous batch; text batches go to ``Pass.embed`` as they are. A member with a source head
also gets ``<set>_source`` (its head's softmax), which LEEP and NCE read. Precomputed members (``features:``)
are copied from the user's files after their row counts are checked against the dataset.

Feature files (taskspace.features): sets as taskspace.zoo.data names them, item keys the row index 0..n-1.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from ..features import FeatureFile, FeatureWriter
from ..provenance import library_versions
from .data import dataset_items

log = logging.getLogger(__name__)

# Versions every feature file records (a member's own libraries are in its provenance); a precomputed pass
# imports no torch, which would double its job's time.
LIBRARIES = {"embedded": ("torch", "numpy"), "features": ("numpy", "h5py")}


def extract_pass(settings: dict, out_dir, device: str = "auto") -> list[Path]:
    """Write ``out_dir/<member>.h5`` for every member of the pass (``settings``: taskspace.zoo.plan.pass_params)."""
    out_dir = Path(out_dir)
    items = dataset_items(settings["input"], settings["dataset"], settings["data"])
    entries = settings["entries"]
    if settings.get("built"):
        from .build import resolve_built

        entries = resolve_built(entries, settings["built"])
        settings = {**settings, "entries": entries}
    kind = "features" if "features" in entries[0] else "embedded"
    base = {"zoo": settings["zoo"], "dataset": settings["dataset"], **library_versions(*LIBRARIES[kind])}
    if kind == "features":
        if len(entries) != 1:
            raise TaskspaceError(f"zoos.{settings['zoo']}: a precomputed pass has one member")
        return [copy_precomputed(entries[0], settings["dataset"], items, out_dir, base)]
    return embed_pass(settings, items, out_dir, device, base)


def embed_pass(settings: dict, items: dict[str, list], out_dir: Path, device: str, base: dict) -> list[Path]:
    from ..members import open_pass
    from ..members.batches import preprocessed_batches
    from ..sources.images import load_image

    extraction = settings["extraction"]
    pass_ = open_pass(settings["entries"], settings["input"], device=device, precision=extraction["precision"])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{member.name}.h5" for member in pass_.members]
    writers = [
        FeatureWriter(path, {**base, **member.provenance, "member": member.name})
        for path, member in zip(paths, pass_.members)
    ]
    ok = False
    try:
        for set_name, set_items in items.items():
            start, done = time.perf_counter(), 0
            workers = extraction["workers"] if len(set_items) > extraction["batch_size"] else 0
            load = load_image if settings["input"] == "image" else None
            for batch in preprocessed_batches(pass_, set_items, load, extraction["batch_size"], workers):
                embedded = pass_.embed(batch)
                keys = np.arange(done, done + len(batch), dtype=np.int64)
                for writer, member in zip(writers, pass_.members):
                    writer.append(set_name, keys, embedded.features[member.name])
                    probs = _source_probs(embedded, member.name)
                    if probs is not None:
                        writer.append(f"{set_name}_source", keys, probs)
                done += len(batch)
            seconds = time.perf_counter() - start
            log.info(
                "%s: %d items of %s embedded by %d members in %.1f s (%.1f items/s)",
                settings["dataset"],
                done,
                set_name,
                len(writers),
                seconds,
                done / max(seconds, 1e-9),
            )
        ok = True
    finally:
        for writer in writers:
            writer.close(ok=ok)
    return paths


def _source_probs(embedded, member: str):
    probs = getattr(embedded, "source_probs", None)
    if isinstance(probs, dict):  # per member, where the members of a pass differ in having one
        probs = probs.get(member)
    return None if probs is None else np.asarray(probs, dtype=np.float32)


# --- precomputed features -----------------------------------------------------------------------------------


def copy_precomputed(entry: dict, dataset: str, items: dict[str, list], out_dir: Path, base: dict) -> Path:
    """A precomputed member's features of one dataset as a feature file, read by
    taskspace.members.precomputed.read_precomputed (its formats; each set's rows checked against the items),
    with the source head's probabilities where an HDF5 file has them (``<set>_source``)."""
    from ..members.precomputed import precomputed_files, read_precomputed

    name = entry["name"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.h5"
    h5, _ = precomputed_files(entry, dataset, "")
    with_heads = set()
    if h5.is_file():
        with FeatureFile(h5) as f:
            with_heads = {s for s in items if f"{s}_source" in f.sets}
    provenance = {**base, "member": name, "kind": "features", "source": str(entry["features"])}
    with FeatureWriter(target, provenance) as writer:
        for set_name, set_items in items.items():
            keys = np.arange(len(set_items), dtype=np.int64)
            writer.append(set_name, keys, read_precomputed(entry, dataset, set_name, len(set_items)))
            if set_name in with_heads:
                probs = read_precomputed(entry, dataset, f"{set_name}_source", len(set_items))
                writer.append(f"{set_name}_source", keys, probs)
    return target
