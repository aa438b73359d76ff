"""The zoo sections of results/summary.md (taskspace.summary): a table per task against k, the members alone,
and a zoo without tasks' picks; a summary without zoos is what it was."""

import pandas as pd

from taskspace.summary import summary, zoo_picks_table, zoo_table


def metrics():
    rows = []
    for k in (1, 2):
        rows.append(
            dict(
                task="t",
                protocol="validated",
                method="mmi",
                round=0,
                k=k,
                members="a",
                metric="accuracy",
                test=0.5 + k / 10,
            )
        )
        rows.append(
            dict(
                task="t",
                protocol="validated",
                method="mmi-task",
                round=0,
                k=k,
                members="b",
                metric="accuracy",
                test=0.4,
            )
        )
        for r, test in enumerate((0.2, 0.4)):
            rows.append(
                dict(
                    task="t",
                    protocol="validated",
                    method="random",
                    round=r,
                    k=k,
                    members="c",
                    metric="accuracy",
                    test=test,
                )
            )
    for i, (member, test) in enumerate((("a", 0.6), ("b", 0.9), ("c", 0.3))):
        rows.append(
            dict(
                task="t",
                protocol="validated",
                method="single",
                round=i,
                k=1,
                members=member,
                metric="accuracy",
                test=test,
            )
        )
    return pd.DataFrame(rows)


def test_zoo_table():
    table = zoo_table(metrics())
    assert table.splitlines()[2] == "| 1 | 0.600 | 0.400 | 0.300 | 0.210 | 0.390 |"
    assert "Members alone (3): best b 0.900, median 0.600." in table


def test_zoo_picks_and_sections():
    selection = pd.DataFrame(
        dict(
            method="mmi",
            round=0,
            k=[1, 2, 2],
            rank=[1, 1, 2],
            member=["x", "x", "y"],
            index=[0, 0, 1],
            cumulative_mi=[0.0, 0.0, 1.5],
        )
    )
    assert zoo_picks_table(selection).splitlines()[2:] == ["| 1 | x | 0.000 |", "| 2 | y | 1.500 |"]
    text = summary({}, None, zoo={"zoo/z": metrics()}, zoo_picks={"zoo/p": selection})
    assert "#### zoo/z, task t, validated protocol (test accuracy)" in text
    assert "#### zoo/p, MMI picks (no tasks)" in text
    assert summary({}, None) == ""
