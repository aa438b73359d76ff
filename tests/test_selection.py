import math

import numpy as np
import pandas as pd
import pytest

from taskspace.errors import TaskspaceError
from taskspace.mmi import GaussianZoo
from taskspace.selection import COLUMNS, random_subsets, ranked_table, selection_table, subsets


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
