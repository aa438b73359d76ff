"""What the rankers of one member share: its checked features and labels, and the pieces built from them once.

``_member`` checks the inputs and returns a ``_Member``, which builds on first use the centred features,
the class sums, the small-side Gram matrix and its eigendecomposition (``_Spectrum``) that several rankers
read; ``_Shared`` keeps them and the seconds each took, so that every ranker's time can be counted as if it
ran alone.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse

from ..errors import TaskspaceError

EPS = np.finfo(np.float64).eps
PROBABILITY_TOLERANCE = 1e-3
ROUNDING_SPREAD = 16  # a dimension whose values spread by at most this many of its dtype's eps is constant


# --- shared pieces -------------------------------------------------------------------------------------------


def _gram(x: np.ndarray) -> np.ndarray:
    """Gram matrix on the small side: ``x^T x`` (d x d) when n > d, else ``x x^T`` (n x n).

    numpy recognises the transposed pair and calls BLAS syrk (half the products), returning an exactly
    symmetric matrix; on this project's machine it was as fast as or faster than calling scipy's dsyrk.
    """
    return x.T @ x if x.shape[0] > x.shape[1] else x @ x.T


class _Spectrum:
    """Eigendecomposition of a small-side Gram matrix of an (n, d) matrix F, numerical null space dropped.

    ``values`` are the kept eigenvalues (squared singular values of F), descending; ``vectors`` the left
    singular vectors U (n x k) when the Gram is n x n, else the right ones V (d x k). Eigenvalues at or below
    ``max(n, d) * eps * largest`` are rounding noise of a Gram matrix and are treated as exactly zero.
    """

    def __init__(self, gram: np.ndarray, n: int, d: int):
        values, vectors = np.linalg.eigh(gram)
        keep = values > max(max(n, d) * EPS * values[-1], 0.0)
        self.values = values[keep][::-1].copy()
        self.vectors = vectors[:, keep][:, ::-1].copy()
        self.items_side = not n > d
        self.n, self.d = n, d

    def coordinates(self, targets: np.ndarray, features_t_targets) -> np.ndarray:
        """U^T Y (k x c) for targets Y (n x c); ``features_t_targets()`` gives F^T Y (d x c) when needed."""
        if self.items_side:
            return self.vectors.T @ targets
        return (self.vectors.T @ features_t_targets()) / np.sqrt(self.values)[:, None]


class _Shared:
    """Values computed once per member and the seconds each took, excluding what it asked of other values."""

    def __init__(self):
        self.values, self.own_seconds, self.needs = {}, {}, {}
        self._frames = []  # per open computation: [keys it used, seconds spent building values inside it]

    def get(self, key: str, build):
        if key not in self.values:
            self._frames.append([set(), 0.0])
            start = time.perf_counter()
            value = build()
            elapsed = time.perf_counter() - start
            used, nested = self._frames.pop()
            self.values[key], self.needs[key], self.own_seconds[key] = value, frozenset(used), elapsed - nested
            if self._frames:
                self._frames[-1][1] += elapsed
        if self._frames:
            self._frames[-1][0].update({key} | self.needs[key])
        return self.values[key]

    def timed(self, function):
        """Run ``function()``; seconds = its own work plus every shared value it used, as if run alone."""
        self._frames.append([set(), 0.0])
        start = time.perf_counter()
        try:
            value = function()
        finally:
            elapsed = time.perf_counter() - start
            used, nested = self._frames.pop()
        return value, elapsed - nested + sum(self.own_seconds[key] for key in used)


class _Member:
    """One member's validated features and labels, and the pieces several rankers share (built on first use)."""

    def __init__(self, features: np.ndarray, index: np.ndarray, counts: np.ndarray):
        self.features = features
        self.n, self.d = features.shape
        self.index, self.counts = index, counts
        self.classes = len(counts)
        self.onehot = sparse.csr_matrix((np.ones(self.n), (index, np.arange(self.n))), shape=(self.classes, self.n))
        self.shared = _Shared()

    def _centring(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Mean and centred features divided by 2^e, the power of two that brings the largest centred value
        into [0.5, 1): exact in binary floating point, so nothing downstream underflows or overflows whatever
        the features' magnitude, and scale-invariant rankers give the score of exact arithmetic. Rankers whose
        formula depends on the scale put 2^e back where it enters (``exponent``)."""

        def build():
            mean = self.features.mean(axis=0, dtype=np.float64)
            centred = np.subtract(self.features, mean, dtype=np.float64)
            exponent = int(np.frexp(np.abs(centred).max())[1])
            return np.ldexp(mean, -exponent), np.ldexp(centred, -exponent, out=centred), exponent

        return self.shared.get("centred", build)

    def exponent(self) -> int:
        """e of the rescaling: the rankers read the features divided by 2^e (see ``_centring``)."""
        return self._centring()[2]

    def size(self) -> float:
        """The largest centred value of the features as given, for messages."""
        return float(np.ldexp(np.abs(self.centred()).max(), self.exponent()))

    def mean(self) -> np.ndarray:
        """Mean of the features, divided by 2^e as the centred features are."""
        return self._centring()[0]

    def centred(self) -> np.ndarray:
        """Centred features divided by 2^e (see ``_centring``)."""
        return self._centring()[1]

    def class_sums(self) -> np.ndarray:
        """Sums of the centred features per class (C x d)."""
        return self.shared.get("class_sums", lambda: np.asarray(self.onehot @ self.centred()))

    def class_rows(self) -> list[np.ndarray]:
        """Item indices of every class, in class order."""

        def build():
            order = np.argsort(self.index, kind="stable")
            return np.split(order, np.cumsum(self.counts)[:-1])

        return self.shared.get("class_rows", build)

    def centred_gram(self) -> np.ndarray:
        return self.shared.get("centred_gram", lambda: _gram(self.centred()))

    def centred_spectrum(self) -> _Spectrum:
        return self.shared.get("centred_spectrum", lambda: _Spectrum(self.centred_gram(), self.n, self.d))

    def raw_spectrum(self) -> _Spectrum:
        """Spectrum of the uncentred features, from the centred Gram by a low-rank update (no second pass)."""

        def build():
            gram, mean = self.centred_gram(), self.mean()
            if self.n > self.d:
                raw = gram + self.n * np.outer(mean, mean)
            else:
                shift = self.centred() @ mean
                raw = gram + shift[:, None] + shift[None, :] + mean @ mean
            return _Spectrum(raw, self.n, self.d)

        return self.shared.get("raw_spectrum", build)

    def label_coordinates(self, spectrum: _Spectrum, raw: bool) -> np.ndarray:
        """U^T y_c for every class indicator y_c (k x C)."""
        if spectrum.items_side:
            return np.asarray(self.onehot @ spectrum.vectors).T

        def class_sums():
            sums = self.class_sums().T
            return sums + np.outer(self.mean(), self.counts) if raw else sums

        return spectrum.coordinates(None, class_sums)


# --- validation ----------------------------------------------------------------------------------------------


def _check_features(features, name: str = "features") -> np.ndarray:
    array = np.asarray(features)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise TaskspaceError(f"{name}: expected a 2-D array of at least 2 items x 1 dimension, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TaskspaceError(f"{name}: expected numbers, got dtype {array.dtype}")
    bad = ~np.isfinite(array)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise TaskspaceError(
            f"{name}: {int(bad.sum())} values are NaN or infinite (first at row {row}, column {column})"
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return np.ascontiguousarray(array)


def _check_labels(labels, n: int):
    """Class index (0..C-1) of every item and the class sizes; at least two classes."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise TaskspaceError(f"labels: expected shape ({n},) to match the {n} items, got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise TaskspaceError(
            f"labels: expected integer class labels, got dtype {labels.dtype} "
            "(real-valued targets: logme with regression=True)"
        )
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise TaskspaceError(f"labels: only one class ({classes[0]}); ranking needs at least two classes")
    return index.reshape(-1), np.bincount(index.reshape(-1))


def _check_targets(targets, n: int) -> np.ndarray:
    """Real-valued regression targets as an (n, c) float64 array."""
    targets = np.asarray(targets)
    if targets.ndim == 1:
        targets = targets[:, None]
    if targets.ndim != 2 or len(targets) != n or targets.shape[1] < 1:
        raise TaskspaceError(f"targets: expected shape ({n},) or ({n}, c) to match the {n} items, got {targets.shape}")
    if not (np.issubdtype(targets.dtype, np.floating) or np.issubdtype(targets.dtype, np.integer)):
        raise TaskspaceError(f"targets: expected numbers, got dtype {targets.dtype}")
    targets = targets.astype(np.float64)
    if not np.isfinite(targets).all():
        raise TaskspaceError(f"targets: {int((~np.isfinite(targets)).sum())} values are NaN or infinite")
    return targets


def _check_probabilities(source_probs, n: int) -> np.ndarray:
    probs = _check_features(source_probs, "source_probs").astype(np.float64, copy=False)
    if len(probs) != n:
        raise TaskspaceError(f"source_probs: {len(probs)} rows for {n} labels")
    if probs.min() < 0:
        raise TaskspaceError("source_probs: negative values; expected the source head's probabilities (softmax)")
    sums = probs.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > PROBABILITY_TOLERANCE:
        raise TaskspaceError(
            f"source_probs: row {worst} sums to {sums[worst]:.6g}, not 1 (logits instead of probabilities?)"
        )
    return probs


def _member(features, labels, regression: bool = False):
    """The member to score, and the regression targets (None for class labels)."""
    features = _check_features(features)
    n = len(features)
    if regression:
        targets = _check_targets(labels, n)
        index, counts = np.zeros(n, dtype=np.int64), np.array([n])
    else:
        targets = None
        index, counts = _check_labels(labels, n)
    spread = np.ptp(features, axis=0)
    if not spread.any():
        raise TaskspaceError("features: every dimension is constant over the items; there is nothing to score")
    if np.issubdtype(features.dtype, np.floating):
        # A dead member's outputs are one value plus the rounding of its batches: that noise must not be scored.
        largest = np.abs(features).max(axis=0).astype(np.float64)
        relative = np.divide(spread, largest, out=np.zeros_like(largest), where=largest > 0)
        rounding = np.finfo(features.dtype).eps
        if (relative <= ROUNDING_SPREAD * rounding).all():
            raise TaskspaceError(
                f"features: every dimension is constant up to rounding over the items (largest spread "
                f"{relative.max():.2g} of its values, {features.dtype} rounds at {rounding:.2g}); "
                "there is nothing to score"
            )
    return _Member(features, index, counts), targets
