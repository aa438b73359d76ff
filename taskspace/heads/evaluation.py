"""The one entry point both tracks call: every head of a selection table, under every protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from .groups import train_heads_in_feature_groups
from .protocol import Protocol
from .table import metric_rows, metrics_table


def evaluate_heads(
    keys: Sequence[tuple[str, int, int]],
    member_lists: Sequence[Sequence[str]],
    members: Sequence[str],
    widths: Sequence[int],
    protocols: Sequence[Protocol],
    loader: Callable[[Protocol], tuple[Callable, int]],
    task: str,
    metric_name: str,
    feature_budget_mb: float | None = None,
    **train_options,
) -> pd.DataFrame:
    """Train a head per (method, round, k) key on its members, under every protocol; the metrics table.

    ``widths`` are the members' feature widths. ``loader(protocol)`` returns ``(load_members, n_items)`` for
    ``train_heads_in_feature_groups`` (the vision protocols train on different images). Heads of methods with
    their own epochs (the paper's MMI) are trained in a call of their own; all others of a protocol share one.
    ``train_options`` (metric, n_classes, metric_input) go to ``taskspace.heads.train.train_heads``.
    """
    index = {name: i for i, name in enumerate(members)}
    heads = [[index[m] for m in ms] for ms in member_lists]
    rows = []
    for protocol in protocols:
        load_members, n_items = loader(protocol)
        for config, positions in protocol.epoch_groups([key[0] for key in keys]).items():
            results = train_heads_in_feature_groups(
                load_members,
                widths,
                n_items,
                [heads[i] for i in positions],
                feature_budget_mb,
                f"task {task}, {protocol.name} protocol",
                member_names=list(members),
                config=config,
                **train_options,
            )
            rows += metric_rows(
                task,
                protocol.name,
                metric_name,
                [keys[i] for i in positions],
                [member_lists[i] for i in positions],
                results,
            )
    return metrics_table(rows)
