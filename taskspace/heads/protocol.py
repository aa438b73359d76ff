"""Evaluation protocols: how a track's heads are trained and which epoch is reported.

``validated`` gives every selection method the same budget and picks the epoch on held-out data (LM: the dev
set; vision: ``val_per_class`` admin training images per class). ``paper`` is the paper's code path, setting
for setting, with the per-method epochs of its scripts (defaults: ``taskspace.config.PAPER_PROTOCOL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .types import HeadConfig

PROTOCOLS = ("validated", "paper")


@dataclass(frozen=True)
class Protocol:
    name: str
    heads: HeadConfig
    method_epochs: Mapping[str, int] = field(default_factory=dict)
    val_per_class: int | None = None  # vision validated: admin images per class held out to pick the epoch

    def config_for(self, method: str) -> HeadConfig:
        """The head config of one selection method: the protocol's, with the method's own epochs if any."""
        epochs = self.method_epochs.get(method, self.heads.epochs)
        return self.heads if epochs == self.heads.epochs else replace(self.heads, epochs=epochs)

    def epoch_groups(self, methods) -> dict[HeadConfig, list[int]]:
        """Positions of ``methods`` grouped by the head config they train with (one trainer call each)."""
        groups: dict[HeadConfig, list[int]] = {}
        for i, method in enumerate(methods):
            groups.setdefault(self.config_for(method), []).append(i)
        return groups


def protocol_from_config(name: str, evaluation: Mapping, seed: int, device: str, **overrides) -> Protocol:
    """One protocol of a validated ``evaluation`` section (``taskspace.config.validate_config`` output)."""
    section = evaluation[name]
    heads = HeadConfig.from_mapping({"seed": seed, "device": device, **section.get("heads", {}), **overrides})
    return Protocol(name, heads, dict(section.get("method_epochs", {})), section.get("val_per_class"))


def protocols_from_config(evaluation: Mapping, seed: int, device: str, **overrides) -> list[Protocol]:
    """The protocols the section asks for, in its order."""
    return [protocol_from_config(name, evaluation, seed, device, **overrides) for name in evaluation["protocols"]]
