"""A validation split carved from training items, for choosing the epoch on data the test never sees."""

from __future__ import annotations

import numpy as np

from ..errors import TaskspaceError


def stratified_holdout(labels, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` items of every class held out, seeded; returns (train_index, validation_index), sorted.

    A class needs at least ``per_class + 1`` items so that some remain for training (the vision admin has only
    S images per class).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(labels):
        where = np.flatnonzero(labels == cls)
        if len(where) <= per_class:
            raise TaskspaceError(
                f"heads: class {cls} has {len(where)} training items, too few to hold out {per_class} for validation"
            )
        held.append(rng.choice(where, size=per_class, replace=False))
    val = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val
