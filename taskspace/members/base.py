"""What every member kind hands the extraction: a :class:`Pass` of :class:`Member` encoders and :class:`Embedded`.

A *pass* is one checkpoint loaded once: every batch goes through it once, and each of its members (the same
checkpoint read at another layer or pooled another way) takes its vectors from that one forward pass.
Extraction code sees only this interface, never a member's tokenizer or model.

Torch-free at import (the torch-free plan and light rules import the package); the kinds import torch when
a pass is opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import TaskspaceError

# A feature file's provenance values must be str, int, float or bool (see taskspace.features).
Provenance = dict[str, str | int | float | bool]


@dataclass
class Embedded:
    """One batch through a pass: each member's vectors, and the source head's class probabilities.

    ``features``: member name -> float32 (B, width). ``source_probs``: float32 (B, classes), rows summing to
    one, when the pass's checkpoint has a source head (LEEP and NCE read it); else None.
    """

    features: dict[str, np.ndarray]
    source_probs: np.ndarray | None = None


@dataclass
class Member:
    """One zoo member: a self-contained encoder (its pass's forward pass, read at its layer and pooling)."""

    name: str
    width: int
    provenance: Provenance
    has_source_head: bool = False
    pass_: Pass | None = field(default=None, repr=False)

    def embed(self, batch) -> np.ndarray:
        """float32 (B, width) for a batch (what :meth:`Pass.embed` takes). A pass embeds all its members at
        once: extraction calls the pass, not each member."""
        if self.pass_ is None:
            raise TaskspaceError(f"member {self.name}: not attached to an open pass")
        return self.pass_.embed(batch).features[self.name]


class Pass:
    """A loaded checkpoint and the members that read it.

    ``kind``: hf_text, hf_image, builder or features. ``modality``: text or image. ``members``: in entry
    order. ``preprocess(item)``: text: the item itself (a str or a (text, pair) tuple); image: a PIL image ->
    a float32 CPU tensor (C, H, W), a picklable object that DataLoader workers call. ``embed(batch)``: a
    batch of items (texts, or images as a stacked tensor from ``preprocess`` or a list of PIL images) ->
    :class:`Embedded`. ``source_classes``: the source head's class names, when it has one.
    """

    kind: str = ""
    modality: str = ""
    name: str = ""
    device: str = "cpu"
    precision: str = "float32"  # the dtype the forward pass computes in
    precision_setting: str = "auto"
    members: list[Member]
    preprocess: Callable[[Any], Any]
    source_classes: list[str] | None = None

    @property
    def has_source_head(self) -> bool:
        return self.source_classes is not None

    def embed(self, batch) -> Embedded:  # pragma: no cover - each kind implements it
        raise NotImplementedError

    def _attach(self, members: list[Member]) -> None:
        for member in members:
            member.pass_ = self
        self.members = members


def identity(item):
    """A text pass's preprocessing: the item as it is (tokenising happens per batch, in ``embed``)."""
    return item


def entry_json(entry: Mapping[str, Any], drop: Sequence[str] = ()) -> str:
    """The entry as canonical JSON (sorted keys), without the keys in ``drop``: a pass key, a provenance value."""
    return json.dumps({k: v for k, v in entry.items() if k not in drop}, sort_keys=True, default=str)


def check_finite(pass_: Pass, features: Mapping[str, np.ndarray]) -> None:
    """Refuse NaN or Inf vectors, naming the member and the precision they were computed in."""
    for name, vectors in features.items():
        bad = int(np.size(vectors) - np.count_nonzero(np.isfinite(vectors)))
        if bad:
            hint = "; compute it in float32 (extraction.precision: float32)" if pass_.precision == "float16" else ""
            raise TaskspaceError(
                f"member {name}: {bad} feature values are NaN or Inf (computed in {pass_.precision}){hint}"
            )


def softmax_rows(logits) -> np.ndarray:
    """float32 class probabilities from a (B, C) torch tensor of logits, computed in float32."""
    return logits.float().softmax(dim=-1).cpu().numpy().astype(np.float32, copy=False)
