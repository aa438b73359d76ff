"""A zoo dataset's items per set, in canonical order, from its config entry (taskspace.sources reads the files).

Dataset ``probe``: set ``probe`` (image paths or sentences). A task: sets ``train``, ``test`` and ``dev`` when
given, each an ``ImageSplit`` or ``TextSplit``. Row i of a set is item i of its feature files.
"""

from __future__ import annotations

from ..sources.images import probe_images, read_image_tables, read_imagefolder
from ..sources.text import read_text_probe, read_text_task
from .plan import PROBE


def read_task(modality: str, entry: dict) -> dict:
    """{split: ImageSplit | TextSplit} of one task entry (``dev`` only when the task has one)."""
    fmt = entry["format"]
    if fmt == "imagefolder":
        return read_imagefolder(entry["root"])
    if fmt == "image_list":
        return read_image_tables(entry["train"], entry["test"], entry.get("dev"))
    return read_text_task(
        entry["train"],
        entry["test"],
        entry.get("dev"),
        text=entry.get("text", "text"),
        label=entry.get("label", "label"),
        pair=entry.get("pair"),
        kind=entry.get("kind", "classification"),
    )


def read_probe(modality: str, entry: dict) -> list:
    """The probe's items: image paths (input image) or sentences (input text)."""
    if modality == "image":
        return list(probe_images(entry["images"], entry.get("max_items")))
    return read_text_probe(entry["text"], entry.get("column", "text"), entry.get("max_items"))


def dataset_items(modality: str, dataset: str, entry: dict) -> dict[str, list]:
    """Set name -> the items a member embeds (image paths, sentences, or (text, pair) tuples)."""
    if dataset == PROBE:
        return {PROBE: read_probe(modality, entry)}
    items = {}
    for split, data in read_task(modality, entry).items():
        if modality == "image":
            items[split] = list(data.paths)
        elif data.pairs is not None:
            items[split] = list(zip(data.texts, data.pairs))
        else:
            items[split] = list(data.texts)
    return items
