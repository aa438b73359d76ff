"""The ranking job of one task: every member's score by every ranker, from the task's training split.

Label-based rankers (``taskspace.rankers``) score each member from one read of its features; ``mmi`` is the
paper's label-free MMI order over all members (from the space's kappa) and ``mmi-task`` the task-aware MMI
order (``taskspace.mmi.task_aware_picks``), both as minus the pick position. One tidy table:
``task ranker member score seconds``, judged later against every member's own head (taskspace.transferability).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .errors import TaskspaceError
from .kappa import linear_cka
from .mmi import GaussianZoo, task_aware_kappa, task_aware_picks
from .rankers import FEATURE_RANKERS, NEEDS_CLASSES, SOURCE_HEAD, score_all
from .transferability import RANKING_COLUMNS, pick_order_scores

log = logging.getLogger(__name__)

LABEL_FREE = ("mmi", "mmi-task")  # rankers that every ranking table has, beside the configured label-based ones


def usable_rankers(rankers: Sequence[str], regression: bool, has_source_heads: bool, task: str) -> list[str]:
    """The configured rankers that can score this task, each one left out named in the log with the reason."""
    usable = []
    for name in rankers:
        if regression and name in NEEDS_CLASSES:
            log.info("ranking %s: %s skipped: it needs classes and the task's target is real-valued", task, name)
        elif name in SOURCE_HEAD and not has_source_heads:
            log.info(
                "ranking %s: %s skipped: the members have no source head (its predictions are what %s reads)",
                task,
                name,
                name,
            )
        else:
            usable.append(name)
    return usable


def target_block(labels: np.ndarray, regression: bool) -> np.ndarray:
    """The task's labels as features of the target variable: one-hot classes, or the real target itself."""
    if regression:
        return np.asarray(labels, dtype=np.float64)[:, None]
    classes = np.unique(labels)
    return (labels[:, None] == classes[None, :]).astype(np.float64)


def rank_task(
    task: str,
    members: Sequence[str],
    load_member: Callable[[int], tuple[np.ndarray, np.ndarray | None]],
    labels: np.ndarray,
    rankers: Sequence[str] = FEATURE_RANKERS,
    regression: bool = False,
    kappa: np.ndarray | None = None,
    hub_first: bool = False,
) -> pd.DataFrame:
    """Every ranker's score of every member on one task.

    ``load_member(i)`` returns member i's features on the task's training items (n x d) and its source-head
    probabilities there (n x C_source) or None; ``labels`` (n,) are class ids or, with ``regression``, real
    targets. ``kappa`` (the space's, members in this order) adds the label-free ``mmi`` order, with the
    space's ``hub_first``. The task-aware ``mmi-task`` order is computed from the members' features, kept
    in memory for it.
    """
    labels = np.asarray(labels)
    rows, kept = [], []
    names = list(rankers)
    for i, member in enumerate(members):
        features, source_probs = load_member(i)
        if i == 0:
            names = usable_rankers(rankers, regression, source_probs is not None, task)
        seconds: dict[str, float] = {}
        try:
            scores = score_all(
                features,
                labels,
                names,
                source_probs=source_probs if SOURCE_HEAD & set(names) else None,
                regression=regression,
                seconds=seconds,
            )
        except TaskspaceError as error:  # a member no ranker may score (constant features, a lost magnitude)
            raise TaskspaceError(f"ranking {task}: member {member!r}: {error}") from None
        rows += [
            dict(task=task, ranker=name, member=member, score=score, seconds=seconds[name])
            for name, score in scores.items()
        ]
        kept.append(np.asarray(features, dtype=np.float32))
        log.info("ranking %s: member %d/%d %s scored by %d rankers", task, i + 1, len(members), member, len(scores))
    rows += _label_free_rows(task, members, kept, labels, regression, kappa, hub_first)
    return pd.DataFrame(rows, columns=RANKING_COLUMNS)


def _label_free_rows(task, members, features, labels, regression, kappa, hub_first) -> list[dict]:
    """``mmi-task`` (and ``mmi`` with a kappa) as scores: minus the pick position over all members."""
    m = len(members)
    start = time.perf_counter()
    if regression:
        kappa_plus = linear_cka([*features, target_block(labels, regression)])
    else:
        kappa_plus = task_aware_kappa(features, labels)
    order, _ = task_aware_picks(kappa_plus, m)
    orders = {"mmi-task": (order, time.perf_counter() - start)}
    if kappa is not None:
        if len(kappa) != m:
            raise TaskspaceError(f"ranking {task}: kappa has {len(kappa)} members, the task's features {m}")
        start = time.perf_counter()
        orders["mmi"] = (
            GaussianZoo(kappa, list(members)).greedy(m, hub_first=hub_first).order,
            time.perf_counter() - start,
        )
    rows = []
    for ranker, (order, seconds) in orders.items():
        scores = pick_order_scores(order, m)
        rows += [
            dict(task=task, ranker=ranker, member=member, score=float(scores[i]), seconds=seconds)
            for i, member in enumerate(members)
        ]
    return rows
