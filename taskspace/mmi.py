"""Greedy maximum-mutual-information (MMI) selection of representative members.

Tasks are a Gaussian process over the members with covariance kappa. The greedy rule adds the member y
that maximises ``var(y | A) / var(y | V \\ A \\ y)``; the cumulative MI after each pick is the running sum
of the logs of those ratios. This is the paper's quantity: twice the Gaussian mutual information
I(A; V \\ A) in nats, so values match the paper's published numbers.

Cost: O(m^3) once (a Cholesky factorisation of kappa and the inverse of its factor) plus O(m^2) per pick,
instead of the naive formula's O(m^3) per candidate and pick.

- ``var(y | A)`` comes from an incremental Cholesky factorisation of kappa[A, A] (one row per pick).
- ``var(y | V \\ A \\ y)`` is ``1 / P[y, y]`` where P is the precision of kappa restricted to V \\ A.
  Removing a pick a from V \\ A is a rank-one downdate ``P <- P - P[:, a] P[a, :] / P[a, a]``; only the
  diagonal of P is kept, and the columns that the downdates need come from the factor of kappa's inverse.

Near-singular kappa (for example two identical members) would make the precision blow up. When the smallest
Cholesky pivot falls below ``NEAR_SINGULAR_PIVOT``, the selection warns and works on
``(kappa + JITTER * I) / (1 + JITTER)`` instead, which keeps the unit diagonal. With an exact duplicate the
outcome is deterministic: the copy with the smallest index is picked first (after the hub with hub_first; it
is perfectly predicted by the rest, so its ratio is the largest, and its copies' ratios equal it), the copies
are picked in index order, a single pair's second copy last of all, and MI values involving the copies depend
on the jitter.

Ties: ratios within ``taskspace.ties.TIE_RTOL`` (relative) of the best count as equal and the smallest index
among them is picked, as it is for the hub (largest row sum) and in :func:`task_aware_picks`. Exact ties
(duplicates, symmetric kappas) otherwise fall to whichever way the machine's BLAS kernel rounds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, lapack

from .errors import TaskspaceError
from .ties import first_best

SYMMETRY_TOLERANCE = 1e-8
DIAGONAL_TOLERANCE = 1e-6
PSD_TOLERANCE = 1e-8
NEAR_SINGULAR_PIVOT = 1e-10
JITTER = 1e-6


class NearSingularKappaWarning(UserWarning):
    """kappa is (nearly) singular: the selection adds a documented jitter to its diagonal."""


@dataclass(frozen=True)
class Selection:
    """Picks in order, with the paper's cumulative MI after each pick."""

    order: np.ndarray  # member indices, pick order
    cumulative_mi: np.ndarray  # same length as order
    jitter: float  # 0.0 unless kappa was near-singular


ROWS_PER_BLOCK = 512


def check_kappa(kappa, name: str = "kappa") -> np.ndarray:
    """kappa as float64 (no copy when it already is) after the cheap checks: shape, finite, symmetric,
    unit diagonal. Works block by block so a 10,000-member kappa needs no full-size temporaries."""
    kappa = np.asarray(kappa, dtype=np.float64)
    if kappa.ndim != 2 or kappa.shape[0] != kappa.shape[1] or kappa.shape[0] == 0:
        raise TaskspaceError(f"{name}: expected a non-empty square matrix, got shape {kappa.shape}")
    for start in range(0, len(kappa), ROWS_PER_BLOCK):
        rows = kappa[start : start + ROWS_PER_BLOCK]
        bad = ~np.isfinite(rows)
        if bad.any():
            total = int((~np.isfinite(kappa)).sum())
            i, j = np.argwhere(bad)[0]
            raise TaskspaceError(f"{name}: {total} entries are NaN or infinite (first at row {start + i}, column {j})")
        asym = np.abs(rows - kappa[:, start : start + ROWS_PER_BLOCK].T)
        if asym.max() > SYMMETRY_TOLERANCE:
            i, j = np.unravel_index(np.argmax(asym), asym.shape)
            i += start
            raise TaskspaceError(
                f"{name}: not symmetric: entries ({i}, {j}) and ({j}, {i}) differ by {asym[i - start, j]:.3g}"
            )
    diag_error = np.abs(np.diag(kappa) - 1.0)
    if diag_error.max() > DIAGONAL_TOLERANCE:
        i = int(np.argmax(diag_error))
        raise TaskspaceError(
            f"{name}: diagonal must be 1 (kernel alignment), but entry ({i}, {i}) is {kappa[i, i]:.6g}"
        )
    return kappa


def validate_kappa(kappa, name: str = "kappa") -> np.ndarray:
    """Return kappa as a symmetric float64 array or raise a one-line error saying what is wrong with it."""
    kappa = check_kappa(kappa, name)
    kappa = (kappa + kappa.T) / 2
    _check_psd(kappa, name)
    return kappa


def _check_psd(kappa: np.ndarray, name: str) -> None:
    shifted = kappa + PSD_TOLERANCE * np.eye(len(kappa))
    if lapack.dpotrf(shifted, lower=1)[1] != 0:
        smallest = float(np.linalg.eigvalsh(kappa)[0])
        raise TaskspaceError(
            f"{name}: not positive semi-definite: smallest eigenvalue {smallest:.3g} (tolerance {-PSD_TOLERANCE:g})"
        )


class GaussianZoo:
    """Members as a Gaussian process with covariance kappa, factorised once for any number of selections."""

    def __init__(self, kappa, names=None):
        # The PSD check costs a second factorisation, so it only runs when the first one is in trouble.
        # Only the lower triangle is factorised; the checked asymmetry (< 1e-8) cannot change a pick.
        kappa = check_kappa(kappa)
        self.m = len(kappa)
        self.names = list(names) if names is not None else [str(i) for i in range(self.m)]
        factor, info = lapack.dpotrf(kappa, lower=1, clean=1)
        pivots = np.diag(factor) ** 2 if info == 0 else np.zeros(1)
        self.jitter = 0.0
        if info != 0 or pivots.min() < NEAR_SINGULAR_PIVOT:
            _check_psd(kappa, "kappa")
            self.jitter = JITTER
            warnings.warn(self._near_singular_message(kappa, pivots, info), NearSingularKappaWarning, stacklevel=2)
            kappa = (kappa + JITTER * np.eye(self.m)) / (1.0 + JITTER)
            factor, info = lapack.dpotrf(kappa, lower=1, clean=1)
            if info != 0:  # cannot happen for a matrix that passed validate_kappa
                raise TaskspaceError("kappa: Cholesky factorisation failed even after jitter")
        self.kappa = kappa
        # inverse_factor is L^-1, so kappa^-1 = inverse_factor.T @ inverse_factor.
        self.inverse_factor, info = lapack.dtrtri(factor, lower=1, overwrite_c=1)
        if info != 0:
            raise TaskspaceError("kappa: inverting the Cholesky factor failed")
        self.precision_diagonal = np.einsum("ij,ij->j", self.inverse_factor, self.inverse_factor)

    def _near_singular_message(self, kappa, pivots, info) -> str:
        worst = int(info - 1) if info > 0 else int(np.argmin(pivots))
        others = np.abs(kappa[worst]).copy()
        others[worst] = -np.inf
        twin = int(np.argmax(others))
        return (
            f"kappa is near-singular (member {self.names[worst]!r} is almost a combination of the others; "
            f"closest: {self.names[twin]!r}, kappa {kappa[worst, twin]:.6f}); adding jitter {JITTER:g} to the "
            "diagonal: picks stay deterministic, MI values near these members depend on the jitter"
        )

    def _precision_column(self, j: int) -> np.ndarray:
        """Column j of kappa^-1 as inverse_factor.T @ inverse_factor[:, j], one triangular product."""
        return blas.dtrmv(self.inverse_factor, self.inverse_factor[:, j], trans=1, lower=1)

    def _walk(self, k: int, choose):
        """Run k greedy steps; ``choose(step, ratios, available)`` returns the next member index."""
        m = self.m
        given_picked = np.zeros((k, m))  # rows of the incremental Cholesky factor of kappa[A, A]
        downdates = np.zeros((k, m))  # rank-one downdates of the precision of V \ A
        variance_given_picked = np.ones(m)
        precision_diagonal = self.precision_diagonal.copy()
        available = np.ones(m, dtype=bool)
        order = np.empty(k, dtype=np.int64)
        gains = np.empty(k)
        for step in range(k):
            ratios = np.where(available, variance_given_picked * precision_diagonal, -np.inf)
            y = choose(step, ratios, available)
            gains[step] = np.log(variance_given_picked[y] * precision_diagonal[y])
            order[step] = y
            available[y] = False
            row = self.kappa[y] - given_picked[:step].T @ given_picked[:step, y]
            row /= np.sqrt(variance_given_picked[y])
            given_picked[step] = row
            variance_given_picked = np.maximum(variance_given_picked - row**2, 0.0)
            column = self._precision_column(y) - downdates[:step].T @ downdates[:step, y]
            column /= np.sqrt(column[y])
            downdates[step] = column
            precision_diagonal = precision_diagonal - column**2
        return Selection(order=order, cumulative_mi=np.cumsum(gains), jitter=self.jitter)

    def greedy(self, k: int, hub_first: bool = False) -> Selection:
        """The paper's greedy MMI picks; hub_first starts from the member with the largest row sum."""
        self._check_k(k)
        hub = first_best(self.kappa.sum(axis=1))

        def choose(step, ratios, available):
            if step == 0 and hub_first:
                return hub
            return first_best(ratios)

        return self._walk(k, choose)

    def score(self, members) -> Selection:
        """Cumulative MI of a given ordered list of member indices (for random and other baselines)."""
        members = [int(i) for i in members]
        if len(set(members)) != len(members) or any(not 0 <= i < self.m for i in members):
            raise TaskspaceError(f"members {members}: indices must be distinct and in 0..{self.m - 1}")
        self._check_k(len(members))
        return self._walk(len(members), lambda step, ratios, available: members[step])

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= self.m:
            raise TaskspaceError(f"k = {k}: must be between 1 and the number of members ({self.m})")


def greedy_mmi(kappa, k: int, hub_first: bool = False) -> Selection:
    """Convenience: factorise kappa and run the greedy selection once."""
    return GaussianZoo(kappa).greedy(k, hub_first=hub_first)


# --- task-aware MMI: the new task as one more Gaussian-process variable ---------------------------------------

TARGET_FLOOR = 1e-12


def task_aware_kappa(member_features, labels) -> np.ndarray:
    """kappa among the members and the task's labels: an (m+1) x (m+1) matrix, the target last.

    Entries are linear CKA, the kappa formula (``taskspace.kappa.linear_cka``), over the task's training
    items: the target's "features" are the one-hot labels, whose centred linear kernel is the centred label
    kernel ``H Y Y^T H``. A Gram matrix of normalised centred kernels, so PSD with a unit diagonal.
    """
    from .kappa import linear_cka

    member_features = [np.asarray(x) for x in member_features]
    labels = np.asarray(labels)
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise TaskspaceError(
            f"labels: expected a 1-D array of integer classes, got shape {labels.shape}, dtype {labels.dtype}"
        )
    if not member_features:
        raise TaskspaceError("task-aware kappa needs at least one member")
    for i, x in enumerate(member_features):
        if x.ndim != 2 or len(x) != len(labels):
            raise TaskspaceError(f"member {i}: features of shape {x.shape} for {len(labels)} labelled items")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise TaskspaceError(f"labels: only one class ({classes[0]}); the label kernel would be zero")
    onehot = (labels[:, None] == classes[None, :]).astype(np.float64)
    return linear_cka([*member_features, onehot])


def task_aware_picks(kappa_plus, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy picks of k members that most inform the task, and I(target; picks so far) in nats after each.

    ``kappa_plus``: (m+1) x (m+1) from :func:`task_aware_kappa`, the target t last. Each step adds the member
    y that most reduces ``var(t | A)``: the largest ``cov(t, y | A)^2 / var(y | A)``, which maximises
    ``I(t; A) = 0.5 log(var(t) / var(t | A))`` exactly (plain Gaussian MI, not twice it as the paper's MMI
    values). Conditional (co)variances come from the incremental Cholesky factor of kappa[A, A], as in
    :meth:`GaussianZoo.greedy`: one row per pick, O(k m) per step, no factorisation of the whole matrix.

    A member with ``var(y | A) <= NEAR_SINGULAR_PIVOT`` is determined by the picks (a duplicate, a
    combination): it adds nothing (``cov^2 <= var(t | A) var(y | A)``), is picked only when no member adds
    anything, with a NearSingularKappaWarning, and leaves the factor unchanged. ``var(t | A)`` is floored at
    ``TARGET_FLOOR`` when the picks determine the target, so the MI stays finite. Gains within
    ``taskspace.ties.TIE_RTOL`` of the best tie, and the smallest index among them is picked.
    """
    kappa = validate_kappa(kappa_plus, "kappa_plus")
    m = len(kappa) - 1
    if not 1 <= k <= m:
        raise TaskspaceError(f"k = {k}: must be between 1 and the number of members ({m})")
    rows = np.zeros((k, m + 1))  # rows of the incremental Cholesky factor of kappa[A, A], all columns
    variance = np.diag(kappa).copy()  # var(j | A)
    covariance = kappa[m].copy()  # cov(t, j | A)
    available = np.ones(m, dtype=bool)
    order, values = np.empty(k, dtype=np.int64), np.empty(k)
    for step in range(k):
        determined = variance[:m] <= NEAR_SINGULAR_PIVOT
        gains = np.where(determined, 0.0, covariance[:m] ** 2 / np.where(determined, 1.0, variance[:m]))
        y = first_best(np.where(available, gains, -np.inf))
        order[step], available[y] = y, False
        if determined[y]:
            warnings.warn(
                f"task-aware picks: member {y} is determined by the earlier picks (conditional variance "
                f"{variance[y]:.3g}) and adds nothing; no other member adds anything either",
                NearSingularKappaWarning,
                stacklevel=2,
            )
        else:
            row = (kappa[y] - rows[:step].T @ rows[:step, y]) / np.sqrt(variance[y])
            rows[step] = row
            variance = np.maximum(variance - row**2, 0.0)
            covariance = covariance - row[m] * row
        values[step] = 0.5 * np.log(kappa[m, m] / max(variance[m], TARGET_FLOOR))
    return order, values
