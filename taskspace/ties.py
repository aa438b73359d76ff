"""Ties between member scores are broken by a rule, never by rounding.

Scores that decide picks (MMI ratios, task-aware gains, the hub's row sum, ranker scores) are computed with
BLAS, whose kernels round differently on different CPUs. Members whose scores are equal in exact arithmetic
(the same checkpoint twice, a kappa symmetric under swapping members) come out different in the last bits,
and which one comes out larger depends on the machine. So a score within ``TIE_RTOL`` of the best, relative
to the best's size, counts as tied with it, and among tied members the lowest index (the zoo's order) wins.

Why 1e-8: exact duplicates' MMI ratios, which the near-singular jitter (1e-6) makes ill-conditioned, differ
by up to 6e-10 relative between kernels and positions (2 to 7 copies in zoos of 4 to 300 members), while
distinct members' ratios in the same zoos differed by 2e-7 or more. The paper's kappa has a smallest gap of
9e-5 between the best and the runner-up, so its picks do not depend on the rule.
"""

from __future__ import annotations

import numpy as np

from .errors import TaskspaceError

TIE_RTOL = 1e-8


def near_best(scores) -> np.ndarray:
    """Mask of the scores tied with the best: at least ``best - TIE_RTOL * |best|`` (NaN never ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = scores[~np.isnan(scores)]
    if not len(finite):
        raise TaskspaceError(f"no score to choose from among {len(scores)} (all NaN or none)")
    best = finite.max()
    if np.isinf(best):
        return scores == best
    return scores >= best - TIE_RTOL * abs(best)


def first_best(scores) -> int:
    """Index of the best score; among the scores tied with it (:func:`near_best`), the lowest index."""
    return int(np.flatnonzero(near_best(scores))[0])


def best_first(scores, count: int | None = None) -> list[int]:
    """Indices by decreasing score, each the :func:`first_best` of those left; NaN scores are left out.

    ``count`` stops after that many (the top-k of a ranking); O(count x len(scores)).
    """
    scores = np.asarray(scores, dtype=np.float64)
    left = np.flatnonzero(~np.isnan(scores))
    count = len(left) if count is None else min(count, len(left))
    order = []
    for _ in range(count):
        position = first_best(scores[left])
        order.append(int(left[position]))
        left = np.delete(left, position)
    return order


def snap(scores) -> np.ndarray:
    """The scores with every near-tie made exact, so that rank statistics see ties the same on every machine.

    From the best down, a score within ``TIE_RTOL`` of the best of its group (relative to that best's size, as
    :func:`near_best`) takes the best's value; the first score below starts the next group. NaN stays NaN.
    """
    snapped = np.array(scores, dtype=np.float64)
    leader = None
    for i in np.argsort(-snapped, kind="stable"):  # NaN sorts last
        value = snapped[i]
        if np.isnan(value):
            continue
        if leader is not None and (value == leader or value >= leader - TIE_RTOL * abs(leader)):
            snapped[i] = leader
        else:
            leader = value
    return snapped
