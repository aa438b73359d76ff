"""Metrics of heads on flat label arrays, batched over heads: ``metric(gold (n,), preds (H, n)) -> (H,)``.

Higher is better for every metric. Token-level metrics over sentences live in ``taskspace.lm.metrics``.
"""

from __future__ import annotations

import numpy as np


def accuracy(gold, preds) -> np.ndarray:
    """Fraction of equal labels; ``preds`` (n,) or (H, n)."""
    gold, preds = np.asarray(gold), np.asarray(preds)
    return (preds == gold).mean(axis=-1)


def pearson(gold, preds) -> np.ndarray:
    """Pearson correlation; 0 where predictions (or gold) are constant, so early, collapsed heads do not win."""
    gold = np.asarray(gold, dtype=np.float64)
    preds = np.asarray(preds, dtype=np.float64)
    g = gold - gold.mean()
    p = preds - preds.mean(axis=-1, keepdims=True)
    denom = np.sqrt((p * p).sum(axis=-1) * (g * g).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (p * g).sum(axis=-1) / denom
    return np.where(denom > 0, r, 0.0)


def negative_mse(gold, preds) -> np.ndarray:
    """Minus the mean squared error (higher is better, as every metric here)."""
    gold = np.asarray(gold, dtype=np.float64)
    preds = np.asarray(preds, dtype=np.float64)
    return -((preds - gold) ** 2).mean(axis=-1)


for _metric in (accuracy, pearson, negative_mse):
    _metric.batched = True
