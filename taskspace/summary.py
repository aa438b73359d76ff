"""A run's headline numbers as Markdown, from its metrics and transferability tables (the README's demo
tables are this, for the demo config).

Vision, per experiment and protocol: test accuracy against k of MMI, peek and the random rounds (mean and
5-95% over rounds, each round averaged over the tasks first), and MMI's gain over the random mean. LM, per
protocol: the paper's Table 2 (MMI, random mean and std, single members). Per space with tasks and protocol:
each ranker's weighted tau against every member's own head, and the test metric of the heads on each
ranker's top-k members beside MMI's and random's.
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
        cells = [
            line["mmi"].get(k, np.nan),
            line["peek"].get(k, np.nan),
            random.mean().get(k, np.nan),
            random.quantile(0.05).get(k, np.nan),
            random.quantile(0.95).get(k, np.nan),
        ]
        lines.append(f"| {k} | " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + _gain_sentence(metrics) + "\n"


def _gain_sentence(metrics: pd.DataFrame) -> str:
    """MMI minus the random mean, averaged over tasks and k, and in how many (task, k) cells it is above."""
    random_mean = metrics[metrics.method == "random"].groupby(["task", "k"]).test.mean()
    mmi = metrics[metrics.method == "mmi"].set_index(["task", "k"]).test
    gain = (mmi - random_mean.reindex(mmi.index)).dropna()
    if not len(gain):
        return "No MMI and random heads to compare."
    return (
        f"MMI minus the random mean: {100 * gain.mean():+.2f} accuracy points on average over "
        f"{metrics.task.nunique()} tasks and {metrics.k.nunique()} values of k; above it in "
        f"{int((gain > 0).sum())} of {len(gain)} task x k cells."
    )


def lm_table(metrics: pd.DataFrame, baselines=()) -> str:
    """One protocol's Table 2: task, k, MMI, random mean (std), and every single-member baseline."""
    table = table2(metrics, baselines)
    singles = [c for c in table.columns if c.startswith("single ")]
    lines = [
        "| task | k | MMI | random mean (std) | " + " | ".join(singles) + " |",
        "|---|---|---|---|" + "---|" * len(singles),
    ]
    for row in table.to_dict("records"):
        random = f"{row['random_mean']:.3f} ({row['random_std']:.3f})"
        cells = [row["task"], str(row["k"]), _cell(row["mmi"]), random, *(_cell(row[s]) for s in singles)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ranker_table(transferability: pd.DataFrame) -> str:
    """One protocol's transferability rows: per ranker, weighted tau (mean, min, max over tasks), mean Pearson
    and mean top-1 relative accuracy; label-free rankers first, then by mean tau."""
    stats = transferability.groupby("ranker").agg(
        tau=("weighted_tau", "mean"),
        low=("weighted_tau", "min"),
        high=("weighted_tau", "max"),
        pearson=("pearson", "mean"),
        top1=("top1_relative", "mean"),
        tasks=("task", "nunique"),
    )
    order = sorted(stats.index, key=lambda r: (r not in ("mmi", "mmi-task"), -np.nan_to_num(stats.tau[r], nan=-9)))
    lines = [
        "| ranker | weighted tau, mean | min | max | Pearson, mean | top-1 relative, mean | tasks |",
        "|---|---|---|---|---|---|---|",
    ]
    for ranker in order:
        row = stats.loc[ranker]
        cells = [_cell(row[c]) for c in ("tau", "low", "high", "pearson", "top1")]
        lines.append(f"| {ranker} | " + " | ".join(cells) + f" | {int(row.tasks)} |")
    return "\n".join(lines) + "\n"


def picks_table(metrics: pd.DataFrame) -> str:
    """One protocol's test metric, averaged over tasks, of every method's heads against k (random: the mean
    over rounds); a last column averages over k."""
    rows = metrics[metrics.method != "single"]
    mean = rows.groupby(["method", "k"]).test.mean().unstack("k")
    ks = list(mean.columns)
    first = [m for m in ("mmi", "mmi-task", "random", "peek") if m in mean.index]
    order = first + sorted(m for m in mean.index if m not in first)
    lines = ["| method | " + " | ".join(f"k={k}" for k in ks) + " | mean |", "|---|" + "---|" * (len(ks) + 1)]
    for method in order:
        values = mean.loc[method]
        lines.append(f"| {method} | " + " | ".join(_cell(values[k]) for k in ks) + f" | {_cell(values.mean())} |")
    return "\n".join(lines) + "\n"


def zoo_table(metrics: pd.DataFrame) -> str:
    """One task's rows of a zoo metrics table (one protocol) against k: MMI, task-aware MMI, the random rounds
    (mean, 5% and 95%), and the best and the median member alone."""
    rows = {method: metrics[metrics.method == method].set_index("k").test for method in ("mmi", "mmi-task")}
    random = metrics[metrics.method == "random"].groupby("k").test
    single = metrics[metrics.method == "single"].test
    lines = ["| k | MMI | mmi-task | random mean | random 5% | random 95% |", "|---|---|---|---|---|---|"]
    for k in sorted(metrics[metrics.method != "single"].k.unique()):
        cells = [
            rows["mmi"].get(k, np.nan),
            rows["mmi-task"].get(k, np.nan),
            random.mean().get(k, np.nan),
            random.quantile(0.05).get(k, np.nan),
            random.quantile(0.95).get(k, np.nan),
        ]
        lines.append(f"| {k} | " + " | ".join(_cell(c) for c in cells) + " |")
    best = metrics[metrics.method == "single"].sort_values(["test", "members"], ascending=[False, True]).head(1)
    if len(best):
        lines += [
            "",
            f"Members alone ({len(single)}): best {best.members.iloc[0]} {_cell(best.test.iloc[0])}, "
            f"median {_cell(single.median())}.",
        ]
    return "\n".join(lines) + "\n"


def zoo_picks_table(selection: pd.DataFrame) -> str:
    """A zoo without tasks: MMI's picks in order, with the cumulative MI after each."""
    mmi = selection[selection.method == "mmi"]
    last = mmi[mmi.k == mmi.k.max()].sort_values("rank")
    lines = ["| k | MMI adds | cumulative MI |", "|---|---|---|"]
    for row in last.itertuples():
        lines.append(f"| {row.rank} | {row.member} | {_cell(row.cumulative_mi)} |")
    return "\n".join(lines) + "\n"


def summary(
    vision: dict[str, pd.DataFrame],
    lm: pd.DataFrame | None,
    baselines=(),
    transferability: dict[str, pd.DataFrame] | None = None,
    zoo: dict[str, pd.DataFrame] | None = None,
    zoo_picks: dict[str, pd.DataFrame] | None = None,
    machine: str | None = None,
) -> str:
    """The run's summary: per vision experiment and the LM track, per protocol, the paper's tables; then, per
    space with a transferability table, its rankers and the heads on their picks. ``machine``, the line
    naming the machine (taskspace.provenance.describe), comes first: trained heads depend on it."""
    parts = [f"{machine}\n"] if machine else []
    for experiment, metrics in vision.items():
        for protocol, rows in metrics.groupby("protocol", sort=False):
            parts.append(f"#### vision/{experiment}, {protocol} protocol\n\n{vision_table(rows)}")
    if lm is not None:
        for protocol, rows in lm.groupby("protocol", sort=False):
            parts.append(f"#### lm, {protocol} protocol\n\n{lm_table(rows, baselines)}")
    for space, metrics in (zoo or {}).items():
        for (protocol, task), rows in metrics.groupby(["protocol", "task"], sort=False):
            metric = rows.metric.iloc[0] if "metric" in rows else "test"
            parts.append(f"#### {space}, task {task}, {protocol} protocol (test {metric})\n\n{zoo_table(rows)}")
    for space, selection in (zoo_picks or {}).items():
        parts.append(f"#### {space}, MMI picks (no tasks)\n\n{zoo_picks_table(selection)}")
    metrics_of = {**{f"vision/{name}": table for name, table in vision.items()}, "lm": lm, **(zoo or {})}
    for space, table in (transferability or {}).items():
        for protocol, rows in table.groupby("protocol", sort=False):
            metrics = metrics_of[space]
            parts.append(
                f"#### {space}, rankers, {protocol} protocol\n\n{ranker_table(rows)}\n"
                f"Heads on each method's top-k members (test metric, mean over tasks):\n\n"
                f"{picks_table(metrics[metrics.protocol == protocol])}"
            )
    return "\n".join(parts)
