"""Built members (``build:``, small seeded models for tests and demos): one pass's model written into a folder
by taskspace.members.tiny.build_member, and the entry that reads it written beside it as JSON, which the pass
jobs read in place of the ``build`` keys (a text family trains its tokenizer on the zoo's probe text)."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_path
from .data import read_probe

BUILD_KEYS = ("build", "seed", "width")


def build_pass(entry: dict, modality: str, probe: dict, folder, entry_path, seed: int) -> dict:
    from ..members.tiny import build_member

    texts = read_probe(modality, probe) if modality == "text" else None
    built = build_member(entry, Path(folder), seed=seed, texts=texts)
    with atomic_path(entry_path) as partial:
        partial.write_text(json.dumps(built, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return built


def resolve_built(entries: list[dict], entry_path) -> list[dict]:
    """The pass's entries with the built entry in place of the build keys (each keeps its name, layer, pooling)."""
    built = json.loads(Path(entry_path).read_text(encoding="utf-8"))
    shared = {key: value for key, value in built.items() if key not in ("name", "layer", "pooling")}
    resolved = []
    for entry in entries:
        own = {key: value for key, value in entry.items() if key not in BUILD_KEYS}
        resolved.append({**shared, **own})
    return resolved
