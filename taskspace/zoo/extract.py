"""The pass job: one checkpoint's members (its layers and poolings) embed one dataset, one feature file each.

Images are decoded and preprocessed in DataLoader worker processes (``Pass.preprocess``, picklable) while the
model runs on the previous batch; text batches go to ``Pass.embed`` as they are. A member with a source head
also gets ``<set>_source`` (its head's softmax), which LEEP and NCE read. Precomputed members (``features:``)
are copied from the user's files after their row counts are checked against the dataset.

Feature files (taskspace.features): sets as taskspace.zoo.data names them, item keys the row index 0..n-1.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from ..features import FeatureFile, FeatureWriter
from ..provenance import library_versions
from .data import dataset_items

log = logging.getLogger(__name__)

LIBRARIES = ("torch", "torchvision", "transformers", "numpy")


def extract_pass(settings: dict, out_dir, device: str = "auto") -> list[Path]:
    """Write ``out_dir/<member>.h5`` for every member of the pass (``settings``: taskspace.zoo.plan.pass_params)."""
    out_dir = Path(out_dir)
    items = dataset_items(settings["input"], settings["dataset"], settings["data"])
    entries = settings["entries"]
    base = {"zoo": settings["zoo"], "dataset": settings["dataset"], **library_versions(*LIBRARIES)}
    if "features" in entries[0]:
        if len(entries) != 1:
            raise TaskspaceError(f"zoos.{settings['zoo']}: a precomputed pass has one member")
        return [copy_precomputed(entries[0], settings["dataset"], items, out_dir, base)]
    return embed_pass(settings, items, out_dir, device, base)


def embed_pass(settings: dict, items: dict[str, list], out_dir: Path, device: str, base: dict) -> list[Path]:
    from ..members import open_pass

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
            for batch in _batches(pass_, settings["input"], set_items, extraction):
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


class _Images:
    """Image paths -> preprocessed tensors, in DataLoader workers (decoding overlaps the model)."""

    def __init__(self, paths, preprocess):
        self.paths, self.preprocess = list(paths), preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        from ..sources.images import load_image

        return self.preprocess(load_image(self.paths[i]))


def _batches(pass_, modality: str, items: list, extraction: dict):
    size = extraction["batch_size"]
    if modality == "text":
        for start in range(0, len(items), size):
            yield items[start : start + size]
        return
    import torch

    workers = extraction["workers"] if len(items) > size else 0
    loader = torch.utils.data.DataLoader(
        _Images(items, pass_.preprocess), batch_size=size, shuffle=False, num_workers=workers
    )
    yield from loader


# --- precomputed features -----------------------------------------------------------------------------------


def copy_precomputed(entry: dict, dataset: str, items: dict[str, list], out_dir: Path, base: dict) -> Path:
    """A precomputed member's features of one dataset as a feature file: ``<folder>/<dataset>.h5`` (the
    taskspace format, copied) or ``<folder>/probe.npy`` / ``<folder>/<task>/<split>.npy`` (rows in the
    dataset's canonical order); each set's rows must match the dataset's items."""
    folder, name = Path(entry["features"]), entry["name"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.h5"
    h5 = folder / f"{dataset}.h5"
    if h5.exists():
        with FeatureFile(h5) as f:
            for set_name, set_items in items.items():
                if set_name not in f.sets:
                    raise TaskspaceError(f"{h5}: member {name!r} has no set {set_name!r} (sets: {', '.join(f.sets)})")
                _check_rows(h5, set_name, len(f.items(set_name)), len(set_items))
        shutil.copyfile(h5, target)
        return target
    arrays = {}
    for set_name, set_items in items.items():
        path = folder / "probe.npy" if set_name == "probe" else folder / dataset / f"{set_name}.npy"
        if not path.exists():
            raise TaskspaceError(f"{path}: precomputed features of member {name!r} not found (also looked for {h5})")
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
            raise TaskspaceError(f"{path}: expected a 2-D float array (items x width), got {array.dtype} {array.shape}")
        _check_rows(path, set_name, len(array), len(set_items))
        arrays[set_name] = array.astype(np.float32, copy=False)
    provenance = {**base, "member": name, "kind": "features", "source": str(folder)}
    with FeatureWriter(target, provenance) as writer:
        for set_name, array in arrays.items():
            writer.append(set_name, np.arange(len(array), dtype=np.int64), array)
    return target


def _check_rows(path, set_name: str, rows: int, expected: int) -> None:
    if rows != expected:
        raise TaskspaceError(f"{path}: set {set_name!r} has {rows} rows, the dataset has {expected} items")
