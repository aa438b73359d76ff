"""The metrics table, one schema for both tracks, every protocol and every selection method.

One row per trained head: ``task protocol method round k members metric dev test best_epoch epochs steps``.
``round`` numbers the subsets of a random method (and the baselines of ``single``); ``members`` is the
picked members joined by ``+`` in pick order; ``dev`` is NaN where the protocol holds out nothing.
"""

from __future__ import annotations

import pandas as pd

METRIC_COLUMNS = [
    "task",
    "protocol",
    "method",
    "round",
    "k",
    "members",
    "metric",
    "dev",
    "test",
    "best_epoch",
    "epochs",
    "steps",
]


def metric_rows(task: str, protocol: str, metric: str, keys, member_lists, results) -> list[dict]:
    """Rows of the metrics table for heads keyed by (method, round, k) with their results."""
    return [
        dict(
            task=task,
            protocol=protocol,
            method=method,
            round=round_,
            k=k,
            members="+".join(members),
            metric=metric,
            dev=result.dev,
            test=result.test,
            best_epoch=result.best_epoch,
            epochs=result.epochs,
            steps=result.steps,
        )
        for (method, round_, k), members, result in zip(keys, member_lists, results)
    ]


def metrics_table(rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=METRIC_COLUMNS)
