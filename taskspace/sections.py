"""Config sections as dataclasses: built from a config mapping, an unknown key a one-line error.

The modules that own a section's dataclass (``vision.split.SplitConfig``, ``vision.train_config.TrainConfig``,
``heads.types``) build it here rather than through ``taskspace.config``, which validates the whole config and
calls their checks: a leaf module, so that no import circle runs through the config. ``Section`` gives
such a dataclass ``from_mapping``: built, then checked by its own ``validate(where)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Self

from .errors import TaskspaceError


def dataclass_from_mapping(cls, mapping, where: str):
    """A config dataclass from a config section; an unknown key is a one-line error naming it and the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise TaskspaceError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return cls(**dict(mapping))


class Section:
    """Base of a config section's dataclass that checks itself with ``validate(where)``."""

    SECTION = "config"  # the section's key in errors when no ``where`` is given

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], where: str = "") -> Self:
        """Build from a config section; ``where`` (e.g. ``"vision.split."``) prefixes keys in errors."""
        config = dataclass_from_mapping(cls, mapping, where.rstrip(".") or cls.SECTION)
        config.validate(where)
        return config
