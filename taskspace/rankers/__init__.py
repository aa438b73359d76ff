"""Label-based transferability rankers: one score per member from its features on a task's training split.

Each ranker is a pure function ``f(features (n, d), labels (n,)) -> float``, higher is better; ``nce`` and
``leep`` take the member's source-head probabilities ``(n, C_source)`` instead of features. They reproduce
the reference code the field uses (cited where each formula is computed), in float64, and are correct for
n < d. :func:`score_all` computes several rankers of one member from one in-memory copy of its features and
shares their work: one centring, one Gram matrix on the small side (d x d when n > d, else n x n), one
eigendecomposition of it for all classes and all rankers that need a spectrum.

Labels may be any integers; classes are the distinct values present (the references assume 0..C-1).
Only LogME has a regression form (real-valued targets); the other rankers need classes (``NEEDS_CLASSES``).

Modules: ``member.py`` (checked inputs and the pieces rankers share), ``feature_based.py`` (rankers on
features), ``source_head.py`` (rankers on source-head probabilities); the public functions, the registry
and :func:`score_all` are here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

from ..errors import TaskspaceError
from .feature_based import (
    GBC_COMPONENTS,
    GBC_VARIANCE_FLOOR,
    LOGME_GUARD,
    LOGME_MAX_ITERATIONS,
    LOGME_TOLERANCE,
    SFDA_POWER_ITERATIONS,
    TRANSRATE_EPS,
    _gbc,
    _hscore,
    _hscore_shrinkage,
    _logme,
    _logme_regression,
    _sfda,
    _transrate,
)
from .member import EPS, PROBABILITY_TOLERANCE, _check_features, _check_labels, _check_probabilities, _member, _Shared
from .source_head import _leep, _nce

__all__ = [
    "EPS",
    "FEATURE_RANKERS",
    "GBC_COMPONENTS",
    "GBC_VARIANCE_FLOOR",
    "LOGME_GUARD",
    "LOGME_MAX_ITERATIONS",
    "LOGME_TOLERANCE",
    "NEEDS_CLASSES",
    "PROBABILITY_TOLERANCE",
    "RANKERS",
    "SFDA_POWER_ITERATIONS",
    "SOURCE_HEAD",
    "SOURCE_HEAD_ORDER",
    "TRANSRATE_EPS",
    "check_rankers",
    "gbc",
    "hscore",
    "hscore_shrinkage",
    "leep",
    "logme",
    "nce",
    "score_all",
    "sfda",
    "transrate",
]

# --- public API ----------------------------------------------------------------------------------------------


def _guarded(name: str, member, compute) -> float:
    """``compute()`` of one feature ranker with numpy's floating-point warnings off, and a LinAlgError or a
    non-finite score as one error line naming the ranker (the features are rescaled, so this is a last resort)."""
    with np.errstate(all="ignore"):
        try:
            value = compute()
        except np.linalg.LinAlgError as error:
            raise TaskspaceError(f"{name}: {error} (features up to {member.size():.3g} in magnitude)") from None
    if not np.isfinite(value):
        raise TaskspaceError(
            f"{name}: the score is {value!r}: float64 loses it for features up to {member.size():.3g} in magnitude "
            "(centred); rescale them (e.g. to unit variance)"
        )
    return value


def logme(features, labels, regression: bool = False) -> float:
    """LogME (You et al., ICML 2021): mean per-item log maximum evidence of a linear model on the features.

    ``labels``: integer classes (one-hot targets, one evidence per class), or with ``regression=True``
    real-valued targets of shape (n,) or (n, c) (one evidence per column). Formula: ``_logme_evidence``.
    """
    member, targets = _member(features, labels, regression)
    return _guarded("logme", member, lambda: _logme_regression(member, targets) if regression else _logme(member))


def hscore(features, labels) -> float:
    """H-score (Bao et al., ICIP 2019); formula and reference: ``_hscore``."""
    member = _member(features, labels)[0]
    return _guarded("hscore", member, lambda: _hscore(member))


def hscore_shrinkage(features, labels) -> float:
    """Shrinkage (Ledoit-Wolf) H-score (Ibrahim et al. 2022); formula and reference: ``_hscore_shrinkage``."""
    member = _member(features, labels)[0]
    return _guarded("hscore-shrinkage", member, lambda: _hscore_shrinkage(member))


def transrate(features, labels, eps: float = TRANSRATE_EPS) -> float:
    """TransRate (Huang et al., ICML 2022) with distortion eps; formula and reference: ``_transrate``."""
    member = _member(features, labels)[0]
    return _guarded("transrate", member, lambda: _transrate(member, eps))


def gbc(features, labels, components: int = GBC_COMPONENTS) -> float:
    """GBC (Pandy et al., CVPR 2022), spherical, after PCA to ``components``; see ``_gbc``."""
    member = _member(features, labels)[0]
    return _guarded("gbc", member, lambda: _gbc(member, components))


def sfda(features, labels) -> float:
    """SFDA (Shao et al., ECCV 2022); formula and reference: ``_sfda`` and ``_lda_posteriors``."""
    member = _member(features, labels)[0]
    return _guarded("sfda", member, lambda: _sfda(member))


def leep(source_probs, labels) -> float:
    """LEEP from the source head's probabilities (n, C_source); see ``_leep``."""
    probs = _check_features(source_probs, "source_probs")
    index, counts = _check_labels(labels, len(probs))
    return _leep(_check_probabilities(probs, len(probs)), index, len(counts))


def nce(source_probs, labels) -> float:
    """NCE from the source head's probabilities (n, C_source), argmax as source labels; see ``_nce``."""
    probs = _check_features(source_probs, "source_probs")
    index, counts = _check_labels(labels, len(probs))
    return _nce(_check_probabilities(probs, len(probs)), index, len(counts))


RANKERS = {
    "logme": logme,
    "hscore": hscore,
    "hscore-shrinkage": hscore_shrinkage,
    "transrate": transrate,
    "gbc": gbc,
    "sfda": sfda,
    "nce": nce,
    "leep": leep,
}
"""Every ranker by name: ``f(features, labels) -> float`` (``f(source_probs, labels)`` for SOURCE_HEAD)."""

SOURCE_HEAD = frozenset({"nce", "leep"})
"""Rankers that read the member's source-head probabilities (n, C_source) instead of its features."""

NEEDS_CLASSES = frozenset(RANKERS) - {"logme"}
"""Rankers without a regression form: they need integer class labels."""

FEATURE_RANKERS = tuple(name for name in RANKERS if name not in SOURCE_HEAD)
"""The rankers that read features, in the registry's order (score_all's default)."""

SOURCE_HEAD_ORDER = ("nce", "leep")

_ON_MEMBER = {
    "logme": _logme,
    "hscore": _hscore,
    "hscore-shrinkage": _hscore_shrinkage,
    "transrate": _transrate,
    "gbc": _gbc,
    "sfda": _sfda,
}


def check_rankers(rankers: Iterable[str], regression: bool = False, source_probs: bool = True) -> list[str]:
    """The ranker names as a list, or a one-line error naming an unknown one (and the known ones)."""
    names = [rankers] if isinstance(rankers, str) else list(rankers)
    for name in names:
        if name not in RANKERS:
            raise TaskspaceError(f"unknown ranker {name!r}; known rankers: {', '.join(sorted(RANKERS))}")
        if regression and name in NEEDS_CLASSES:
            raise TaskspaceError(f"ranker {name!r} needs class labels; only logme has a regression form")
        if name in SOURCE_HEAD and not source_probs:
            raise TaskspaceError(f"ranker {name!r} needs the member's source-head probabilities (source_probs)")
    if len(set(names)) != len(names):
        raise TaskspaceError(f"rankers: {names} names a ranker twice")
    return names


def score_all(
    features,
    labels,
    rankers: Iterable[str] | None = None,
    source_probs=None,
    regression: bool = False,
    seconds: dict | None = None,
) -> dict[str, float]:
    """Scores of one member by several rankers, sharing work; ``{name: score}`` in the order asked.

    ``rankers``: names from RANKERS; default: every feature ranker, plus nce and leep when ``source_probs``
    is given (only logme with ``regression=True``). Inputs are checked once; the features are centred once
    and their small-side Gram matrix and its eigendecomposition are computed once for all rankers and
    classes. ``seconds``, if given a dict, receives each ranker's seconds counted as if it ran alone: its
    own work plus every shared piece it used (so the values add up to more than the wall time).
    """
    if rankers is None:
        with_heads = source_probs is not None and not regression
        rankers = ["logme"] if regression else [*FEATURE_RANKERS, *(SOURCE_HEAD_ORDER if with_heads else ())]
    names = check_rankers(rankers, regression, source_probs is not None)
    if not names:
        return {}
    if any(name not in SOURCE_HEAD for name in names):
        member, targets = _member(features, labels, regression)
        index, counts, shared = member.index, member.counts, member.shared
    else:
        index, counts = _check_labels(labels, len(np.atleast_1d(np.asarray(source_probs))))
        member, targets, shared = None, None, _Shared()
    probs = _check_probabilities(source_probs, len(index)) if SOURCE_HEAD.intersection(names) else None

    def run(name: str) -> float:
        if regression:
            return _guarded(name, member, lambda: _logme_regression(member, targets))
        if name in SOURCE_HEAD:
            return (_leep if name == "leep" else _nce)(probs, index, len(counts))
        return _guarded(name, member, lambda: _ON_MEMBER[name](member))

    scores = {}
    for name in names:
        value, elapsed = shared.timed(functools.partial(run, name))
        scores[name] = value
        if seconds is not None:
            seconds[name] = elapsed
    return scores
