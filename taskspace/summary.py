"""A run's headline numbers as Markdown, from its metrics tables (what the README's demo tables show).

Vision, per experiment and protocol: test accuracy against k of MMI, peek and the random rounds (mean and
5-95% over rounds, each round averaged over the tasks first), and MMI's gain over the random mean. LM, per
protocol: the paper's Table 2 (MMI, random mean and std, single members).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .lm.report import table2


def _cell(value: float) -> str:
    return "" if value != value else f"{value:.3f}"


def vision_table(metrics: pd.DataFrame) -> str:
    """One protocol's rows of a vision metrics table as a Markdown table against k, and MMI's gain."""
    per_round = metrics.groupby(["method", "round", "k"]).test.mean().reset_index()
    random = per_round[per_round.method == "random"].groupby("k").test
    line = {method: per_round[per_round.method == method].set_index("k").test for method in ("mmi", "peek")}
    lines = ["| k | MMI | peek | random mean | random 5% | random 95% |", "|---|---|---|---|---|---|"]
    for k in sorted(per_round.k.unique()):
        cells = [line["mmi"].get(k, np.nan), line["peek"].get(k, np.nan), random.mean().get(k, np.nan),
                 random.quantile(0.05).get(k, np.nan), random.quantile(0.95).get(k, np.nan)]
        lines.append(f"| {k} | " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + _gain_sentence(metrics) + "\n"


def _gain_sentence(metrics: pd.DataFrame) -> str:
    """MMI minus the random mean, averaged over tasks and k, and in how many (task, k) cells it is above."""
    random_mean = metrics[metrics.method == "random"].groupby(["task", "k"]).test.mean()
    mmi = metrics[metrics.method == "mmi"].set_index(["task", "k"]).test
    gain = (mmi - random_mean.reindex(mmi.index)).dropna()
    if not len(gain):
        return "No MMI and random heads to compare."
    return (f"MMI minus the random mean: {100 * gain.mean():+.2f} accuracy points on average over "
            f"{metrics.task.nunique()} tasks and {metrics.k.nunique()} values of k; above it in "
            f"{int((gain > 0).sum())} of {len(gain)} task x k cells.")


def lm_table(metrics: pd.DataFrame, baselines=()) -> str:
    """One protocol's Table 2: task, k, MMI, random mean (std), and every single-member baseline."""
    table = table2(metrics, baselines)
    singles = [c for c in table.columns if c.startswith("single ")]
    lines = ["| task | k | MMI | random mean (std) | " + " | ".join(singles) + " |",
             "|---|---|---|---|" + "---|" * len(singles)]
    for row in table.to_dict("records"):
        random = f"{row['random_mean']:.3f} ({row['random_std']:.3f})"
        cells = [row["task"], str(row["k"]), _cell(row["mmi"]), random, *(_cell(row[s]) for s in singles)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary(vision: dict[str, pd.DataFrame], lm: pd.DataFrame | None, baselines=()) -> str:
    """The run's summary: a section per vision experiment and protocol, and the LM track per protocol."""
    parts = []
    for experiment, metrics in vision.items():
        for protocol, rows in metrics.groupby("protocol", sort=False):
            parts.append(f"#### vision/{experiment}, {protocol} protocol\n\n{vision_table(rows)}")
    if lm is not None:
        for protocol, rows in lm.groupby("protocol", sort=False):
            parts.append(f"#### lm, {protocol} protocol\n\n{lm_table(rows, baselines)}")
    return "\n".join(parts)
