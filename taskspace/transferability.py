"""How well a ranking of members predicts their ground truth, measured the way the transferability field does.

A ranker gives every member a score on a task; the ground truth is each member's own result on that task
(its single-member head's test metric, higher is better). The field reports the weighted Kendall tau of
scores against truth (scipy's ``weightedtau`` with its default hyperbolic weights, as in the LogME and SFDA
evaluation code and the thuml/Transfer-Learning-Library model-selection tables), the Pearson correlation,
and the top-1 relative accuracy (truth of the ranker's first pick over the best truth). MMI ranks members
without labels; :func:`pick_order_scores` turns its pick order into scores so it is judged the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from .errors import TaskspaceError
from .ties import near_best, snap

RANKING_COLUMNS = ["task", "ranker", "member", "score", "seconds"]
TRUTH_COLUMNS = ["task", "protocol", "member", "test"]
TABLE_COLUMNS = ["task", "protocol", "ranker", "weighted_tau", "pearson", "top1_relative", "n_members"]


def _pair(scores, truth, what: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if scores.ndim != 1 or scores.shape != truth.shape or len(scores) == 0:
        raise TaskspaceError(
            f"{what} and truth: expected two 1-D arrays of the same length, got shapes {scores.shape} and {truth.shape}"
        )
    for name, values in ((what, scores), ("truth", truth)):
        if not np.isfinite(values).all():
            raise TaskspaceError(f"{name}: {int((~np.isfinite(values)).sum())} values are NaN or infinite")
    return scores, truth


def weighted_tau(scores, truth) -> float:
    """Weighted Kendall tau: ``scipy.stats.weightedtau(scores, truth)`` with its default weights (hyperbolic,
    1 / (r + 1), the average of the rankings by scores and by truth), as LogME's and SFDA's evaluation code and
    the tllib model-selection tables use. NaN when fewer than two members or either side is constant.

    scipy ranks exact ties as ties (tau-b style) but two scores 1e-12 apart as an order, which another machine's
    BLAS kernel may round the other way; so scores within ``taskspace.ties.TIE_RTOL`` are snapped to one value
    first (``taskspace.ties.snap``), as every argmax over scores breaks them."""
    scores, truth = _pair(scores, truth)
    scores = snap(scores)
    if len(scores) < 2 or np.ptp(scores) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(scipy.stats.weightedtau(scores, truth).statistic)


def pearson(scores, truth) -> float:
    """Pearson correlation of scores and truth; NaN when fewer than two members or either side is constant."""
    scores, truth = _pair(scores, truth)
    if len(scores) < 2 or np.ptp(scores) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(scipy.stats.pearsonr(scores, truth).statistic)


def top1_relative(scores, truth) -> float:
    """Truth of the top-scored member divided by the best truth (1.0: the ranker found the best member).

    A tie at the top (scores within ``taskspace.ties.TIE_RTOL`` of the best) counts the mean truth of the tied
    members (the expected value of breaking it at random); NaN when the best truth is not positive.
    """
    scores, truth = _pair(scores, truth)
    best = truth.max()
    if best <= 0:  # a ratio to a non-positive best (e.g. every Pearson r <= 0) has no meaning
        return float("nan")
    return float(truth[near_best(scores)].mean() / best)


def pick_order_scores(order, n_members: int) -> np.ndarray:
    """Scores from a greedy pick order over all members (ranker ``mmi``): minus the pick position (1-based).

    ``order`` must list every member index 0..n_members-1 once; the first pick scores -1, the last -n_members.
    """
    order = np.asarray(order)
    if order.ndim != 1 or sorted(order.tolist()) != list(range(n_members)):
        raise TaskspaceError(
            f"pick order: expected every member index 0..{n_members - 1} once (a full MMI order, "
            f"k = {n_members}), got {order.tolist()}"
        )
    scores = np.empty(n_members)
    scores[order] = -np.arange(1, n_members + 1, dtype=np.float64)
    return scores


def _check_table(table: pd.DataFrame, columns: list[str], name: str, key: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TaskspaceError(f"{name} table: missing columns {missing}; expected {columns}")
    repeated = table.duplicated(key, keep=False)
    if repeated.any():
        row = table[repeated].iloc[0]
        raise TaskspaceError(f"{name} table: {dict(row[key])} appears {int(repeated.sum())} times")


def transferability_table(rankings: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per task, protocol and ranker: weighted tau, Pearson, top-1 relative accuracy, member count.

    ``rankings``: the long ranking table (task, ranker, member, score, seconds). ``truth``: every member's own
    result per task and protocol (task, protocol, member, test). A ranker is judged on the members it scored
    (LEEP and NCE only score members with a source head), top-1 relative accuracy included (the best of
    those members is the reference); each of them needs a truth for every protocol of its task, or a
    one-line error names the first one missing. Tasks of the truth table without rankings are skipped.
    """
    _check_table(rankings, RANKING_COLUMNS, "ranking", ["task", "ranker", "member"])
    _check_table(truth, TRUTH_COLUMNS, "ground-truth", ["task", "protocol", "member"])
    rows = []
    for task, ranked in rankings.groupby("task", sort=False):
        known = truth[truth["task"] == task]
        if known.empty:
            raise TaskspaceError(f"task {task!r}: rankings but no ground truth")
        for protocol, results in known.groupby("protocol", sort=False):
            test = results.set_index("member")["test"]
            for ranker, scored in ranked.groupby("ranker", sort=False):
                absent = [m for m in scored["member"] if m not in test.index]
                if absent:
                    raise TaskspaceError(
                        f"task {task!r}, protocol {protocol!r}: no ground truth for member "
                        f"{absent[0]!r} (ranked by {ranker!r})"
                    )
                scores, values = scored["score"].to_numpy(), test.loc[scored["member"]].to_numpy()
                try:
                    row = dict(
                        weighted_tau=weighted_tau(scores, values),
                        pearson=pearson(scores, values),
                        top1_relative=top1_relative(scores, values),
                        n_members=len(scores),
                    )
                except TaskspaceError as error:
                    raise TaskspaceError(f"task {task!r}, protocol {protocol!r}, ranker {ranker!r}: {error}") from None
                rows.append(dict(task=task, protocol=protocol, ranker=ranker, **row))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def ground_truth(metrics: pd.DataFrame) -> pd.DataFrame:
    """Every member's own result per task and protocol: the ``single`` heads of a metrics table
    (``task protocol member test``), the truth the rankers are judged against."""
    single = metrics[metrics["method"] == "single"]
    if single.empty:
        raise TaskspaceError("metrics table has no single-member heads (method 'single') to judge rankers by")
    return single.rename(columns={"members": "member"})[TRUTH_COLUMNS].reset_index(drop=True)
