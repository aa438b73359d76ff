"""Metrics of the probing tasks. Each takes gold labels and predictions as one sequence per sentence.

- :func:`word_accuracy`: share of annotated words whose prediction equals the gold label (POS, semantic tags,
  constituency ancestors).
- :func:`span_f1`: micro-averaged span F1 with ``seqeval`` (chunking: BIO; NER: IOB1). The default,
  ``strict=False``, is seqeval's conlleval-compatible mode: a span starts at ``B-X`` or at an ``I-X`` that
  does not continue a span of type X. That is the reading conlleval (the CoNLL shared tasks' scorer) and
  allennlp's span F1 (Liu et al.'s, hence the paper's) give to both BIO and IOB1, so one decoder serves
  both schemes. ``strict=True`` uses seqeval's scheme classes (``IOB2`` for BIO, ``IOB1``), which drop
  spans that are ill-formed for the scheme (for BIO: an ``I-X`` that follows ``O``).
- :func:`word_pearson`: Pearson correlation over annotated words only (event factuality; unannotated words
  carry NaN or None in the gold labels and their predictions are ignored).
- :func:`token_f1`: micro F1 over the words whose gold or predicted label is not ``O`` (the demo
  detection tasks, where accuracy would reward predicting ``O`` everywhere).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import TaskspaceError

SCHEMES = ("BIO", "IOB2", "IOB1")


def _check_shapes(gold: Sequence[Sequence], pred: Sequence[Sequence]) -> None:
    if len(gold) != len(pred):
        raise TaskspaceError(f"metric: {len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise TaskspaceError(f"metric: sentence {i} has {len(g)} gold labels but {len(p)} predictions")


def _annotated(label) -> bool:
    if label is None:
        return False
    try:
        return not math.isnan(label)
    except TypeError:  # a string label
        return True


def word_accuracy(gold: Sequence[Sequence], pred: Sequence[Sequence]) -> float:
    """Share of annotated gold words (label not None/NaN) predicted exactly."""
    _check_shapes(gold, pred)
    total = correct = 0
    for g_sent, p_sent in zip(gold, pred):
        for g, p in zip(g_sent, p_sent):
            if _annotated(g):
                total += 1
                correct += g == p
    if total == 0:
        raise TaskspaceError("metric: accuracy over zero annotated words")
    return correct / total


def span_f1(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str = "BIO", strict: bool = False
) -> float:
    """Micro span F1 (seqeval). ``scheme``: BIO (= IOB2) or IOB1; see the module doc for ``strict``."""
    from seqeval.metrics import f1_score  # imported here: only span tasks pay for it
    from seqeval.scheme import IOB1, IOB2

    if scheme not in SCHEMES:
        raise TaskspaceError(f"metric: span scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
    _check_shapes(gold, pred)
    gold = [[str(label) for label in sent] for sent in gold]
    pred = [[str(label) for label in sent] for sent in pred]
    if strict:
        scheme_class = IOB1 if scheme == "IOB1" else IOB2
        return float(f1_score(gold, pred, mode="strict", scheme=scheme_class, zero_division=0))
    return float(f1_score(gold, pred, zero_division=0))


def span_f1_bio(gold, pred) -> float:
    """Span F1 for BIO-tagged tasks (CoNLL-2000 chunking)."""
    return span_f1(gold, pred, scheme="BIO")


def span_f1_iob1(gold, pred) -> float:
    """Span F1 for IOB1-tagged tasks (CoNLL-2003 NER)."""
    return span_f1(gold, pred, scheme="IOB1")


def word_pearson(gold: Sequence[Sequence], pred: Sequence[Sequence]) -> float:
    """Pearson r between gold and predicted values on annotated words; NaN when a side is constant."""
    _check_shapes(gold, pred)
    g_values, p_values = [], []
    for g_sent, p_sent in zip(gold, pred):
        for g, p in zip(g_sent, p_sent):
            if _annotated(g):
                g_values.append(float(g))
                p_values.append(float(p))
    if len(g_values) < 2:
        raise TaskspaceError(f"metric: Pearson correlation needs at least 2 annotated words, got {len(g_values)}")
    g_arr = np.asarray(g_values) - np.mean(g_values)
    p_arr = np.asarray(p_values) - np.mean(p_values)
    denominator = math.sqrt(float(g_arr @ g_arr) * float(p_arr @ p_arr))
    if denominator == 0.0:
        return math.nan  # undefined: a constant prediction (or gold) carries no correlation
    return float(g_arr @ p_arr) / denominator


def token_f1(gold: Sequence[Sequence], pred: Sequence[Sequence], outside: str = "O") -> float:
    """Micro F1 over words whose gold or predicted label is not ``outside``; 0.0 when neither has any."""
    _check_shapes(gold, pred)
    tp = fp = fn = 0
    for g_sent, p_sent in zip(gold, pred):
        for g, p in zip(g_sent, p_sent):
            if not _annotated(g):
                continue
            if g == p:
                tp += g != outside
            else:
                fp += p != outside
                fn += g != outside
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
