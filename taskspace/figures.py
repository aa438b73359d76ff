"""Figures: one consistent style, PDF for papers and PNG for the report, written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .atomic import atomic_path
from .errors import TaskspaceError

STYLE = {
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
COLORS = {"mmi": "#c0392b", "random": "#7f8c8d", "peek": "#2874a6", "single": "#27ae60"}


def save(figure, paths) -> None:
    """Save one figure to every path (format from the suffix), each atomically."""
    for path in paths:
        path = Path(path)
        with atomic_path(path) as partial:
            figure.savefig(partial, format=path.suffix.lstrip("."), dpi=STYLE["savefig.dpi"], bbox_inches="tight")
    plt.close(figure)


def _finish_k_axes(axes, ylabel: str, title: str, legend_columns: int) -> None:
    """The house style of every figure against k: integer k axis, labels, legend below the plot."""
    axes.set_xlabel("k, members picked")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=legend_columns, frameon=False)


def _random_band(axes, random: pd.DataFrame, column: str, label: str) -> None:
    """The random subsets against k: their 5-95% band (labelled) and their median."""
    spread = random.groupby("k")[column].quantile([0.05, 0.5, 0.95]).unstack()
    axes.fill_between(spread.index, spread[0.05], spread[0.95], color=COLORS["random"], alpha=0.25, label=label)
    axes.plot(spread.index, spread[0.5], color=COLORS["random"], ls="--", label="random, median")


def mi_gain(selection: pd.DataFrame, title: str):
    """Cumulative MI of the MMI picks against k, with the random subsets' median and 5-95% band."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.5, 3.2))
        subsets = selection[selection["rank"] == selection["k"]]
        mmi = subsets[subsets.method == "mmi"].sort_values("k")
        random = subsets[subsets.method == "random"]
        if len(random):
            _random_band(axes, random, "cumulative_mi", f"random, 5-95% ({random['round'].nunique()} subsets per k)")
        axes.plot(mmi.k, mmi.cumulative_mi, color=COLORS["mmi"], marker="o", ms=3, label="MMI (greedy)")
        _finish_k_axes(axes, "MI(picked; rest), paper units", title, legend_columns=2)
        return figure


# Fig. 1's colour threshold on the Ward heights (the paper's LMs/estimate_kappa/show_dendrogram.py: 0.9).
DENDROGRAM_COLOR_THRESHOLD = 0.9


def kappa_tree(kappa: np.ndarray, members: list[str]):
    """Fig. 1's tree as the paper's LMs/estimate_kappa/show_dendrogram.py builds it, and its leaves as a table.

    ``linkage(squareform(1 - kappa), "ward", optimal_ordering=True)``: Ward linkage with optimal leaf ordering
    on the condensed 1 - kappa. The table has the leaves from the top of the figure (``orientation="right"``
    draws the first leaf at the bottom, so position 1 is the last leaf) and each member's flat cluster at the
    colour threshold, ``fcluster(tree, 0.9, criterion="distance")``. One member: no tree (None), one row.
    """
    m = len(members)
    if m < 2:
        return None, pd.DataFrame({"position": [1] * m, "member": list(members), "cluster": [1] * m})
    distance = np.clip(1.0 - kappa, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    # Imported here: half a second of every other figure job's start-up, and only Fig. 1 draws a tree.
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import squareform

    tree = hierarchy.linkage(squareform(distance, checks=False), method="ward", optimal_ordering=True)
    top_down = hierarchy.leaves_list(tree)[::-1]
    clusters = hierarchy.fcluster(tree, DENDROGRAM_COLOR_THRESHOLD, criterion="distance")
    table = pd.DataFrame(
        {"position": np.arange(1, m + 1), "member": [members[i] for i in top_down], "cluster": clusters[top_down]}
    )
    return tree, table


def kappa_dendrogram(kappa: np.ndarray, members: list[str], title: str):
    """The paper's Fig. 1 (LMs/estimate_kappa/show_dendrogram.py): kappa and the tree of the members.

    Left: kappa (vmin 0, vmax 1) with rows and columns in leaf order from the top; right: the Ward tree on
    1 - kappa (:func:`kappa_tree`), root on the right (``orientation="right"``), links and names coloured by
    flat cluster at the colour threshold 0.9. Returns the figure and :func:`kappa_tree`'s table.
    """
    tree, table = kappa_tree(kappa, members)
    m = len(members)
    order = [members.index(name) for name in table.member]
    fontsize = max(5, 9 - m // 12)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        size = max(3.0, 0.15 * m + 1.5)  # kappa about square, names between it and the tree
        figure, (heat_axes, tree_axes) = plt.subplots(1, 2, figsize=(2 * size + 2.5, size), layout="constrained")
        if tree is None:
            tree_axes.set(xlim=(0, 1), ylim=(0, 10), xticks=[])
            tree_axes.set_yticks([5], list(members), fontsize=fontsize)
            tree_axes.text(0.5, 5, "one member: no tree", ha="center", va="center", color="#555555")
            colours = ["#555555"] * m
        else:
            from scipy.cluster import hierarchy

            drawn = hierarchy.dendrogram(
                tree,
                ax=tree_axes,
                orientation="right",
                labels=members,
                color_threshold=DENDROGRAM_COLOR_THRESHOLD,
                leaf_font_size=fontsize,
            )
            colours = drawn["leaves_color_list"][::-1]  # top to bottom, as the table
            tree_axes.set_xlabel("Ward distance on 1 - kappa")
        for label, colour in zip(tree_axes.get_yticklabels()[::-1], colours):  # names between kappa and tree
            label.set_color(colour)
        image = heat_axes.imshow(kappa[np.ix_(order, order)], vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        heat_axes.set_yticks([])
        heat_axes.set_xticks(range(m), list(table.member), rotation=90, fontsize=fontsize)
        for label, colour in zip(heat_axes.get_xticklabels(), colours):
            label.set_color(colour)
        figure.colorbar(image, ax=heat_axes, location="left", shrink=0.8, label="kappa (linear kernel alignment)")
        figure.suptitle(title)
        return figure, table


def accuracy_vs_k(metrics: pd.DataFrame, title: str, column: str = "test"):
    """Mean over tasks of the head accuracy against k: MMI and peek lines, random median and 5-95% band.

    ``metrics`` holds one protocol's rows. The band is over random rounds: each round's accuracy is first
    averaged over the tasks.
    """
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.5, 3.2))
        per_round = metrics.groupby(["method", "round", "k"])[column].mean().reset_index()
        random = per_round[per_round.method == "random"]
        if len(random):
            _random_band(axes, random, column, f"random, 5-95% of {random['round'].nunique()} rounds")
        for method, marker in (("peek", "s"), ("mmi", "o")):
            line = per_round[per_round.method == method].sort_values("k")
            if len(line):
                axes.plot(
                    line.k,
                    line[column],
                    color=COLORS[method],
                    marker=marker,
                    ms=3,
                    label={"mmi": "MMI", "peek": "peek (oracle on task 0)"}[method],
                )
        _finish_k_axes(axes, f"{column} accuracy, mean over {metrics.task.nunique()} tasks", title, legend_columns=2)
        return figure


def gain_over_random(metrics: pd.DataFrame, title: str, column: str = "test"):
    """Accuracy of MMI (and peek) minus the mean accuracy of the random rounds, per task and k (one protocol)."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.5, 3.2))
        random_mean = metrics[metrics.method == "random"].groupby(["task", "k"])[column].mean()
        axes.axhline(0, color="black", lw=0.8)
        for method, offset in (("peek", 0.12), ("mmi", -0.12)):
            rows = metrics[metrics.method == method].set_index(["task", "k"])[column]
            if not len(rows):
                continue
            gain = (rows - random_mean.reindex(rows.index)).reset_index()
            axes.scatter(gain.k + offset, gain[column], s=6, color=COLORS[method], alpha=0.4)
            mean = gain.groupby("k")[column].mean()
            axes.plot(
                mean.index + offset,
                mean.values,
                color=COLORS[method],
                marker="o",
                ms=3,
                label=f"{'MMI' if method == 'mmi' else 'peek'}: mean over tasks (dots: tasks)",
            )
        _finish_k_axes(axes, f"{column} accuracy - random mean", title, legend_columns=1)
        return figure


def convergence(table: pd.DataFrame, title: str):
    """The paper's Fig. 2 (LMs/estimate_kappa/convergence.py): KL(kappa* || kappa_n) against probe words.

    As the paper's ``semilogx(word_counts, diffs, ".-")`` with ``--iso``: log x, linear y, the identity
    kappa (KL(kappa* || I)) as the first point at 1 word, kappa_n on the first n lines at their word count,
    and kappa* itself (KL 0) at all the probe's words. Right: Pearson r of the off-diagonal entries.
    """
    from matplotlib.ticker import NullFormatter

    words, kl, correlation = list(table.words), list(table.kl), list(table.correlation)
    if len(table) and words[-1] < table.probe_words.iloc[0]:  # kappa* itself, unless the last n is all lines
        words, kl, correlation = words + [table.probe_words.iloc[0]], kl + [0.0], correlation + [1.0]
    identity = table.identity_kl.iloc[0] if len(table) else np.nan
    with plt.rc_context(STYLE):
        figure, (kl_axes, corr_axes) = plt.subplots(1, 2, figsize=(7.5, 3.2), sharex=True)
        kl_axes.plot([1, *words], [identity, *kl], ".-", color=COLORS["mmi"], label="kappa_n on the first n lines")
        kl_axes.plot([1], [identity], "s", color=COLORS["random"], label="identity kappa (at 1 word)")
        kl_axes.set_ylabel("KL(kappa* || kappa_n), nats")
        kl_axes.set_ylim(bottom=0)
        kl_axes.legend(loc="upper right")
        corr_axes.plot(words, correlation, ".-", color=COLORS["peek"])
        corr_axes.set_ylabel("Pearson r with kappa*")
        corr_axes.set_title("off-diagonal entries of kappa_n and kappa*", fontsize=STYLE["font.size"])
        for axes in (kl_axes, corr_axes):
            axes.set_xscale("log")
            axes.xaxis.set_minor_formatter(NullFormatter())
            axes.set_xlabel("words in the probe data used")
        figure.suptitle(title)
        figure.tight_layout(rect=(0, 0, 1, 0.93))
        return figure


# How the metric columns of the LM metrics table read on an axis.
METRIC_LABELS = {"span_f1": "span F1", "token_f1": "token F1", "accuracy": "accuracy", "pearson": "Pearson r"}


def lm_task(metrics: pd.DataFrame, task: str, title: str, baselines=()):
    """The paper's Fig. 3 for one task and protocol: MMI line over k, random subsets as violins, the configured
    single members as markers. As the paper's fig3.sh, the k = 1 violin leaves out MMI's first pick."""
    rows = metrics[metrics.task == task]
    metric_name = rows.metric.iloc[0]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.5, 3.2))
        random = violin_rows(rows)
        ks = sorted(random.k.unique())
        if ks:
            parts = axes.violinplot(
                [random[random.k == k].test.values for k in ks], positions=ks, widths=0.7, showmedians=True
            )
            for body in parts["bodies"]:
                body.set_facecolor(COLORS["random"])
                body.set_alpha(0.35)
            for key in ("cbars", "cmins", "cmaxes", "cmedians"):
                parts[key].set_color(COLORS["random"])
            axes.plot(
                [],
                [],
                color=COLORS["random"],
                lw=6,
                alpha=0.35,
                label=f"random ({random['round'].nunique()} subsets per k)",
            )
        mmi = rows[rows.method == "mmi"].sort_values("k")
        axes.plot(mmi.k, mmi.test, color=COLORS["mmi"], marker="o", ms=3, label="MMI")
        markers = iter("sD^v<>")
        singles = rows[(rows.method == "single") & rows.members.isin(list(baselines))]
        for _, single in singles.iterrows():
            axes.scatter(
                [1],
                [single.test],
                marker=next(markers, "x"),
                s=28,
                color=COLORS["single"],
                zorder=3,
                label=f"single: {single.members}",
            )
        _finish_k_axes(axes, f"test {METRIC_LABELS.get(metric_name, metric_name)}", title, legend_columns=2)
        return figure


def violin_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The random subsets of Fig. 3's violins: at k = 1 without MMI's first pick (the paper's fig3.sh)."""
    random = rows[rows.method == "random"]
    first = rows[(rows.method == "mmi") & (rows.k == 1)].members
    if len(first):
        random = random[~((random.k == 1) & (random.members == first.iloc[0]))]
    return random


def protocol_rows(metrics: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """One protocol's rows of a metrics table; a protocol the table lacks is an error naming the ones it has."""
    rows = metrics[metrics.protocol == protocol]
    if not len(rows):
        raise TaskspaceError(
            f"metrics table has no rows of the {protocol!r} protocol "
            f"(it has: {', '.join(map(str, metrics.protocol.unique())) or 'none'})"
        )
    return rows


LABEL_FREE_COLORS = {"mmi": COLORS["mmi"], "mmi-task": "#8e44ad"}


def transferability(table: pd.DataFrame, title: str):
    """One protocol's ``transferability.tsv``: weighted tau of every ranker on every task (left) and its mean
    over tasks with the spread (right, bars: mean; lines: min to max). Label-free rankers are listed first."""
    rankers = sorted(table.ranker.unique(), key=lambda r: (r not in LABEL_FREE_COLORS, r))
    tasks = sorted(table.task.unique())
    tau = table.pivot_table(index="ranker", columns="task", values="weighted_tau").reindex(index=rankers, columns=tasks)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        width = max(3.0, 0.35 * len(tasks) + 2.0)
        figure, (heat_axes, mean_axes) = plt.subplots(
            1,
            2,
            figsize=(width + 3.2, 0.3 * len(rankers) + 1.8),
            layout="constrained",
            gridspec_kw={"width_ratios": [width, 2.5]},
        )
        image = heat_axes.imshow(tau.values, vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
        heat_axes.set_yticks(range(len(rankers)), rankers)
        heat_axes.set_xticks(range(len(tasks)), tasks, rotation=90)
        heat_axes.set_title("weighted Kendall tau")
        figure.colorbar(image, ax=heat_axes, location="left", shrink=0.8)
        stats = tau.agg(["mean", "min", "max"], axis=1)
        positions = np.arange(len(rankers))
        colours = [LABEL_FREE_COLORS.get(r, COLORS["peek"]) for r in rankers]
        mean_axes.barh(positions, stats["mean"], color=colours, alpha=0.7)
        mean_axes.hlines(positions, stats["min"], stats["max"], color="black", lw=1)
        mean_axes.axvline(0, color="black", lw=0.8)
        mean_axes.set(
            yticks=positions,
            yticklabels=[],
            ylim=(len(rankers) - 0.5, -0.5),
            xlim=(-1, 1),
            xlabel=f"mean over {len(tasks)} tasks (line: min-max)",
        )
        figure.suptitle(title)
        return figure


def rankers_vs_k(metrics: pd.DataFrame, title: str):
    """One protocol's test metric against k, averaged over tasks: MMI, task-aware MMI and every ranker's top-k
    picks, with the random subsets' mean and 5-95% band over rounds (each round averaged over tasks first)."""
    metric_name = metrics.metric.iloc[0]
    per_round = metrics.groupby(["method", "round", "k"]).test.mean().reset_index()
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(5.2, 3.6))
        random = per_round[per_round.method == "random"]
        if len(random):
            spread = random.groupby("k").test.quantile([0.05, 0.95]).unstack()
            axes.fill_between(
                spread.index, spread[0.05], spread[0.95], color=COLORS["random"], alpha=0.2, label="random, 5-95%"
            )
            axes.plot(
                spread.index, random.groupby("k").test.mean(), color=COLORS["random"], ls="--", label="random, mean"
            )
        others = [m for m in per_round.method.unique() if m not in ("random", "single", "mmi", "mmi-task")]
        # the default cycle without its red and purple, which mark MMI and task-aware MMI
        cycle = [c for i, c in enumerate(plt.rcParams["axes.prop_cycle"].by_key()["color"]) if i not in (3, 4)]
        for i, method in enumerate(["mmi", "mmi-task", *sorted(others)]):
            line = per_round[per_round.method == method].sort_values("k")
            if len(line):
                bold = method in LABEL_FREE_COLORS
                axes.plot(
                    line.k,
                    line.test,
                    marker="o" if bold else ".",
                    ms=3,
                    lw=1.8 if bold else 1,
                    color=LABEL_FREE_COLORS.get(method, cycle[i % len(cycle)]),
                    label=method,
                )
        _finish_k_axes(
            axes,
            f"test {METRIC_LABELS.get(metric_name, metric_name)}, mean over {metrics.task.nunique()} tasks",
            title,
            legend_columns=3,
        )
        return figure
