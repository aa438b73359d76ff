"""Selection tables: which members each method picks for every k.

A selection table is tidy TSV with one row per picked member::

    method  round  k  rank  member  index  cumulative_mi

The subset a head is trained on is the set of rows sharing (method, round, k); ``rank`` is the pick order
inside it and ``cumulative_mi`` the paper's MI of the first ``rank`` picks (see ``taskspace.mmi``).
``round`` numbers the subsets of a random method and the baselines of ``single``; it is 0 for the others.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from .errors import TaskspaceError
from .mmi import GaussianZoo
from .ties import best_first

COLUMNS = ["method", "round", "k", "rank", "member", "index", "cumulative_mi"]


def random_subsets(m: int, k: int, rounds: int, seed: int) -> list[tuple[int, ...]]:
    """``rounds`` distinct k-subsets of range(m), in random order (fewer when fewer exist), seeded per k.

    Seeding with (seed, k) keeps the subsets of one k unchanged when k_max or other k change.
    """
    if not 1 <= k <= m:
        raise TaskspaceError(f"k = {k}: must be between 1 and the number of members ({m})")
    rng = np.random.default_rng([seed, k])
    total = math.comb(m, k)
    if total <= 4 * rounds:  # few subsets exist: draw from all of them without replacement
        every = list(itertools.combinations(range(m), k))
        picked = rng.choice(len(every), size=min(rounds, total), replace=False)
        return [tuple(int(i) for i in rng.permutation(every[p])) for p in picked]
    seen, subsets = set(), []
    while len(subsets) < rounds:
        subset = tuple(int(i) for i in rng.choice(m, size=k, replace=False))
        key = frozenset(subset)
        if key not in seen:
            seen.add(key)
            subsets.append(subset)
    return subsets


def _rows(method, round_, members, zoo: GaussianZoo, order) -> list[dict]:
    mi = zoo.score(order).cumulative_mi
    return [
        dict(
            method=method,
            round=round_,
            k=len(order),
            rank=rank + 1,
            member=members[i],
            index=int(i),
            cumulative_mi=float(mi[rank]),
        )
        for rank, i in enumerate(order)
    ]


def selection_table(
    kappa,
    members,
    k_max: int,
    hub_first: bool = False,
    random_rounds: int = 0,
    seed: int = 0,
    zoo: GaussianZoo | None = None,
) -> pd.DataFrame:
    """MMI picks for k = 1..k_max plus ``random_rounds`` distinct random k-subsets for every k."""
    members = list(members)
    if len(members) != len(kappa):
        raise TaskspaceError(f"{len(members)} member names for a {len(kappa)} x {len(kappa)} kappa")
    zoo = zoo or GaussianZoo(kappa, members)
    if not 1 <= k_max <= zoo.m:
        raise TaskspaceError(f"k_max = {k_max}: must be between 1 and the number of members ({zoo.m})")
    greedy = zoo.greedy(k_max, hub_first=hub_first)
    rows = []
    for k in range(1, k_max + 1):
        order = greedy.order[:k]
        rows += [
            dict(
                method="mmi",
                round=0,
                k=k,
                rank=rank + 1,
                member=members[i],
                index=int(i),
                cumulative_mi=float(greedy.cumulative_mi[rank]),
            )
            for rank, i in enumerate(order)
        ]
    for k in range(1, k_max + 1):
        for round_, subset in enumerate(random_subsets(zoo.m, k, random_rounds, seed) if random_rounds else []):
            rows += _rows("random", round_, members, zoo, subset)
    return pd.DataFrame(rows, columns=COLUMNS)


def ranked_table(method: str, ranking, members, k_max: int, zoo: GaussianZoo | None = None) -> pd.DataFrame:
    """A deterministic ranking (e.g. peek: best single-member score first) as nested top-k subsets."""
    index = {name: i for i, name in enumerate(members)}
    missing = [name for name in ranking if name not in index]
    if missing:
        raise TaskspaceError(f"method {method!r}: unknown members {', '.join(missing)}")
    order = [index[name] for name in ranking][:k_max]
    rows = []
    for k in range(1, len(order) + 1):
        if zoo is not None:
            rows += _rows(method, 0, members, zoo, order[:k])
        else:
            rows += [
                dict(method=method, round=0, k=k, rank=r + 1, member=members[i], index=i, cumulative_mi=np.nan)
                for r, i in enumerate(order[:k])
            ]
    return pd.DataFrame(rows, columns=COLUMNS)


def subsets(table: pd.DataFrame) -> dict[tuple[str, int, int], list[str]]:
    """{(method, round, k): members in pick order} from a selection table."""
    table = table.sort_values(["method", "round", "k", "rank"])
    return {key: list(group["member"]) for key, group in table.groupby(["method", "round", "k"], sort=True)}


def ranked_subsets(ranking: pd.DataFrame, members, k_max: int, skip=("mmi",)) -> dict[tuple[str, int, int], list[str]]:
    """{(ranker, 0, k): the k best members by the ranker's score} from a ranking table (``ranker member score``).

    Scores within ``taskspace.ties.TIE_RTOL`` of each other tie, and ties keep the zoo's member order (the
    same top k on every machine). Members without a score (NaN) are left out. Rankers in ``skip`` are left
    out: ``mmi``'s order is the selection table's own MMI method already.
    """
    position = {name: i for i, name in enumerate(members)}
    out = {}
    for ranker, rows in ranking.groupby("ranker", sort=True):
        if ranker in skip:
            continue
        rows = rows.assign(position=rows.member.map(position)).sort_values("position", kind="stable")
        order = list(rows.member.iloc[best_first(rows.score.to_numpy(), count=k_max)])
        for k in range(1, len(order) + 1):
            out[(ranker, 0, k)] = order[:k]
    return out


def head_subsets(
    selection: pd.DataFrame, members, ranking: pd.DataFrame | None = None, k_max: int | None = None
) -> dict[tuple[str, int, int], list[str]]:
    """Every head one task trains: the selection table's subsets, every member alone (method ``single``,
    ``round`` its position in the zoo: the ground truth the rankers are judged against) and, with a ranking
    table, the top-k members of every ranker for k = 1..k_max (k_max: the selection table's largest k)."""
    heads = {key: ms for key, ms in subsets(selection).items() if key[0] != "single"}
    heads.update({("single", i, 1): [name] for i, name in enumerate(members)})
    if ranking is not None and len(ranking):
        heads.update(ranked_subsets(ranking, members, k_max or int(selection.k.max())))
    return heads
