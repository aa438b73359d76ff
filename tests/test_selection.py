import math

import numpy as np
import pandas as pd
import pytest

from taskspace.errors import TaskspaceError
from taskspace.mmi import GaussianZoo, NearSingularKappaWarning
from taskspace.selection import COLUMNS, random_subsets, ranked_subsets, ranked_table, selection_table, subsets
from taskspace.ties import best_first, first_best, near_best


def kappa(m, seed=0):
    x = np.random.default_rng(seed).standard_normal((m, m + 2)) + 0.5
    gram = x @ x.T
    scale = np.sqrt(np.diag(gram))
    return gram / np.outer(scale, scale)


@pytest.mark.parametrize("m, k, rounds", [(34, 1, 20), (34, 2, 20), (6, 3, 20), (5, 4, 3), (30, 10, 20)])
def test_random_subsets_are_distinct_and_seeded(m, k, rounds):
    drawn = random_subsets(m, k, rounds, seed=7)
    assert len(drawn) == min(rounds, math.comb(m, k))
    assert len({frozenset(s) for s in drawn}) == len(drawn)
    assert all(len(set(s)) == k and all(0 <= i < m for i in s) for s in drawn)
    assert drawn == random_subsets(m, k, rounds, seed=7)
    assert drawn != random_subsets(m, k, rounds, seed=8) or math.comb(m, k) <= 1


def test_table_schema_and_nested_mmi():
    m, names = 9, [f"m{i}" for i in range(9)]
    table = selection_table(kappa(m), names, k_max=4, random_rounds=5, seed=1)
    assert list(table.columns) == COLUMNS
    picks = subsets(table)
    greedy = GaussianZoo(kappa(m)).greedy(4)
    for k in range(1, 5):
        assert picks[("mmi", 0, k)] == [names[i] for i in greedy.order[:k]]
        assert sum(1 for key in picks if key[0] == "random" and key[2] == k) == 5
    # a random subset's cumulative MI at its last rank is the MI of the whole subset
    row = table[(table.method == "random") & (table.k == 3) & (table["rank"] == 3)].iloc[0]
    members = table[(table.method == "random") & (table.k == 3) & (table["round"] == row["round"])].sort_values("rank")
    assert row.cumulative_mi == pytest.approx(GaussianZoo(kappa(m)).score(members["index"]).cumulative_mi[-1])
    mmi_last = table[(table.method == "mmi") & (table["rank"] == table.k)].set_index("k").cumulative_mi
    random_last = table[(table.method == "random") & (table["rank"] == table.k)].groupby("k").cumulative_mi.max()
    assert (mmi_last >= random_last - 1e-12).all()  # greedy beats every random subset drawn here


def test_ranked_table_and_errors():
    names = ["a", "b", "c"]
    table = ranked_table("peek", ["c", "a", "b"], names, k_max=2)
    assert subsets(table) == {("peek", 0, 1): ["c"], ("peek", 0, 2): ["c", "a"]}
    with pytest.raises(TaskspaceError, match="method 'peek': unknown members x"):
        ranked_table("peek", ["x"], names, k_max=1)
    with pytest.raises(TaskspaceError, match="k_max = 4: must be between 1 and the number of members \\(3\\)"):
        selection_table(kappa(3), names, k_max=4)
    assert isinstance(table, pd.DataFrame)


def test_near_best_is_relative_to_the_best():
    assert near_best([1.0, 1.0 - 5e-9, 1.0 - 2e-8, np.nan]).tolist() == [True, True, False, False]
    assert near_best([-1e6, -1e6 * (1 + 5e-9), -1e6 * (1 + 2e-8)]).tolist() == [True, True, False]
    assert near_best([0.0, 1e-300, -1e-300]).tolist() == [False, True, False]
    assert near_best([-np.inf, -np.inf]).tolist() == [True, True]
    with pytest.raises(TaskspaceError, match="no score to choose from"):
        near_best([np.nan])


def test_first_best_takes_the_smallest_index_among_near_ties():
    scores = np.array([0.3, 0.7, 0.2, 0.7, 0.7])
    for noise in (0.0, 1e-12, -1e-12):
        shaken = scores.copy()
        shaken[3:] += noise * np.array([1, -1])  # the tied members rounded apart, either way
        assert first_best(shaken) == 1
    assert first_best([0.3, 0.7, 0.7 * (1 + 1e-6)]) == 2  # beyond the tolerance the larger score wins


def test_best_first_orders_near_ties_by_index():
    scores = [0.5, np.nan, 0.9, 0.5 * (1 + 1e-12), 0.9 * (1 - 1e-12), 0.1]
    assert best_first(scores) == [2, 4, 0, 3, 5]
    assert best_first(scores, count=3) == [2, 4, 0]


@pytest.mark.parametrize("noise", [0.0, 1e-13, -1e-13])
def test_ranker_top_k_is_the_same_however_tied_scores_round(noise):
    members = ["a", "b", "c", "d", "e"]
    scores = np.array([0.2, 0.8, 0.8, 0.5, 0.8]) + noise * np.array([0, 1, -1, 0, 2])
    ranking = pd.DataFrame({"task": "t", "ranker": "logme", "member": members[::-1], "score": scores[::-1]})
    picks = ranked_subsets(ranking, members, k_max=4)
    assert [picks[("logme", 0, k)] for k in range(1, 5)] == [["b"], ["b", "c"], ["b", "c", "e"], ["b", "c", "e", "d"]]


@pytest.mark.parametrize("copies, seed", [(2, 0), (3, 1), (4, 2)])
def test_selection_table_with_duplicate_members_picks_the_first_copy(copies, seed):
    base = kappa(6, seed)
    rows = list(np.random.default_rng(seed).permutation(list(range(6)) + [seed] * (copies - 1)))
    duplicated = base[np.ix_(rows, rows)]
    names = [f"m{row}-{i}" for i, row in enumerate(rows)]
    with pytest.warns(NearSingularKappaWarning):
        table = selection_table(duplicated, names, k_max=len(rows))
    order = list(subsets(table)[("mmi", 0, len(rows))])
    copy_names = [name for name, row in zip(names, rows) if row == seed]
    assert order[0] == copy_names[0]
    assert [name for name in order if name in copy_names] == copy_names
