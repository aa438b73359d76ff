"""The paper's Table 2 from the LM metrics table: per task, single members, random and MMI at each k."""

from __future__ import annotations

import pandas as pd


def table2(metrics: pd.DataFrame, baselines=None) -> pd.DataFrame:
    """One row per protocol, task and k: MMI, random mean and std over subsets, and each single-member baseline
    (the members named in ``baselines``; None: every single-member head of the table)."""
    rows = []
    protocols = list(dict.fromkeys(metrics.protocol))  # in the order they ran; tasks sorted within each
    for (protocol, task, metric), group in metrics.groupby(
        [pd.Categorical(metrics.protocol, protocols), "task", "metric"], sort=True, observed=True
    ):
        single = group[group.method == "single"]
        if baselines is not None:
            single = single[single.members.isin(baselines)].set_index("members").reindex(list(baselines)).reset_index()
        singles = {f"single {row.members}": row.test for row in single.itertuples()}
        for k in sorted(group[group.method == "mmi"].k.unique()):
            random = group[(group.method == "random") & (group.k == k)].test
            mmi = group[(group.method == "mmi") & (group.k == k)].test
            rows.append(
                {
                    "protocol": protocol,
                    "task": task,
                    "metric": metric,
                    "k": int(k),
                    "mmi": float(mmi.iloc[0]),
                    "random_mean": random.mean(),
                    "random_std": random.std(ddof=1),
                    "random_n": len(random),
                    **singles,
                }
            )
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The table as GitHub Markdown, three decimals: one section per protocol when it has a protocol column."""
    if "protocol" in table.columns:
        return "\n".join(
            f"### {protocol} protocol\n\n" + markdown(part.drop(columns="protocol"))
            for protocol, part in table.groupby("protocol", sort=False)
        )
    columns = list(table.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
