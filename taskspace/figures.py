"""Figures: one consistent style, PDF for papers and PNG for the report, written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.cluster import hierarchy  # noqa: E402
from scipy.spatial.distance import squareform  # noqa: E402

from .atomic import atomic_path  # noqa: E402

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


def mi_gain(selection: pd.DataFrame, title: str):
    """Cumulative MI of the MMI picks against k, with the random subsets' median and 5-95% band."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.5, 3.2))
        subsets = selection[selection["rank"] == selection["k"]]
        mmi = subsets[subsets.method == "mmi"].sort_values("k")
        random = subsets[subsets.method == "random"]
        if len(random):
            spread = random.groupby("k")["cumulative_mi"].quantile([0.05, 0.5, 0.95]).unstack()
            axes.fill_between(spread.index, spread[0.05], spread[0.95], color=COLORS["random"], alpha=0.25,
                              label=f"random, 5-95% ({random.seed.nunique()} subsets per k)")
            axes.plot(spread.index, spread[0.5], color=COLORS["random"], ls="--", label="random, median")
        axes.plot(mmi.k, mmi.cumulative_mi, color=COLORS["mmi"], marker="o", ms=3, label="MMI (greedy)")
        _finish_k_axes(axes, "MI(picked; rest), paper units", title, legend_columns=2)
        return figure


def kappa_dendrogram(kappa: np.ndarray, members: list[str], title: str):
    """The paper's Fig. 1: average-linkage dendrogram on 1 - kappa and kappa reordered to match."""
    distance = np.clip(1.0 - kappa, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    tree = hierarchy.linkage(squareform(distance, checks=False), method="average")
    m = len(members)
    size = max(5.0, 0.18 * m + 3)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        figure, (tree_axes, heat_axes) = plt.subplots(
            2, 1, figsize=(size, size * 1.2), gridspec_kw={"height_ratios": [1, 4.5], "hspace": 0.02}
        )
        order = hierarchy.dendrogram(tree, labels=members, ax=tree_axes, color_threshold=0,
                                     above_threshold_color="#555555", no_labels=True)["leaves"]
        tree_axes.set_axis_off()
        image = heat_axes.imshow(kappa[np.ix_(order, order)], cmap="viridis", vmin=max(0.0, kappa.min()), vmax=1,
                                 aspect="auto", interpolation="nearest")
        labels = [members[i] for i in order]
        fontsize = max(4, 9 - m // 12)
        heat_axes.set_yticks(range(m), labels, fontsize=fontsize)
        heat_axes.set_xticks(range(m), labels, rotation=90, fontsize=fontsize)
        figure.colorbar(image, ax=[tree_axes, heat_axes], shrink=0.6, label="kappa (linear kernel alignment)")
        tree_axes.set_title(title)
        return figure


def accuracy_vs_k(metrics: pd.DataFrame, title: str, column: str = "test_acc"):
    """Mean over tasks of the head accuracy against k: MMI and peek lines, random median and 5-95% band.

    The band is over random rounds: each round's accuracy is first averaged over the tasks.
    """
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.5, 3.2))
        per_round = metrics.groupby(["method", "seed", "k"])[column].mean().reset_index()
        random = per_round[per_round.method == "random"]
        if len(random):
            spread = random.groupby("k")[column].quantile([0.05, 0.5, 0.95]).unstack()
            axes.fill_between(spread.index, spread[0.05], spread[0.95], color=COLORS["random"], alpha=0.25,
                              label=f"random, 5-95% of {random.seed.nunique()} rounds")
            axes.plot(spread.index, spread[0.5], color=COLORS["random"], ls="--", label="random, median")
        for method, marker in (("peek", "s"), ("mmi", "o")):
            line = per_round[per_round.method == method].sort_values("k")
            if len(line):
                axes.plot(line.k, line[column], color=COLORS[method], marker=marker, ms=3,
                          label={"mmi": "MMI", "peek": "peek (oracle on task 0)"}[method])
        what = column.replace("_acc", " accuracy").replace("_", " ")  # test_acc -> test accuracy
        _finish_k_axes(axes, f"{what}, mean over {metrics.task.nunique()} tasks", title, legend_columns=2)
        return figure


def gain_over_random(metrics: pd.DataFrame, title: str, column: str = "test_acc"):
    """Accuracy of MMI (and peek) minus the mean accuracy of the random rounds, per task and k."""
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
            axes.plot(mean.index + offset, mean.values, color=COLORS[method], marker="o", ms=3,
                      label=f"{'MMI' if method == 'mmi' else 'peek'}: mean over tasks (dots: tasks)")
        _finish_k_axes(axes, f"{column.replace('_', ' ')} - random mean", title, legend_columns=1)
        return figure


def convergence(table: pd.DataFrame, title: str):
    """The paper's Fig. 2: KL(kappa_full || kappa_n) and correlation to the full kappa against words used."""
    from matplotlib.ticker import NullFormatter

    with plt.rc_context(STYLE):
        figure, (kl_axes, corr_axes) = plt.subplots(1, 2, figsize=(7.5, 3.2))
        kl = table.kl.clip(lower=1e-12)  # the last n can equal the full probe set: KL 0 on a log axis
        kl_axes.plot(table.words, kl, marker="o", ms=3, color=COLORS["mmi"], label="kappa on the first n sentences")
        kl_axes.axhline(table.identity_kl.iloc[0], color=COLORS["random"], ls="--", label="identity (isotropic) kappa")
        kl_axes.set_yscale("log")
        kl_axes.set_ylabel("KL(kappa_full || kappa_n), nats")
        kl_axes.legend(loc="lower left")
        corr_axes.plot(table.words, table.correlation, marker="o", ms=3, color=COLORS["peek"])
        corr_axes.set_ylabel("correlation with the full kappa")
        for axes in (kl_axes, corr_axes):
            axes.set_xscale("log")
            axes.xaxis.set_minor_formatter(NullFormatter())
            axes.set_xlabel("probe words used")
        figure.suptitle(title)
        figure.tight_layout(rect=(0, 0, 1, 0.93))
        return figure


# How the metric columns of the LM metrics table read on an axis.
METRIC_LABELS = {"span_f1": "span F1", "token_f1": "token F1", "accuracy": "accuracy", "pearson": "Pearson r"}


def lm_task(metrics: pd.DataFrame, task: str, title: str):
    """The paper's Fig. 3 for one task: MMI line over k, random subsets as violins, single members as markers."""
    rows = metrics[metrics.task == task]
    metric_name = rows.metric.iloc[0]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.5, 3.2))
        random = rows[rows.method == "random"]
        ks = sorted(random.k.unique())
        if ks:
            parts = axes.violinplot([random[random.k == k].test.values for k in ks], positions=ks, widths=0.7,
                                    showmedians=True)
            for body in parts["bodies"]:
                body.set_facecolor(COLORS["random"])
                body.set_alpha(0.35)
            for key in ("cbars", "cmins", "cmaxes", "cmedians"):
                parts[key].set_color(COLORS["random"])
            axes.plot([], [], color=COLORS["random"], lw=6, alpha=0.35, label=f"random ({random.seed.nunique()} subsets per k)")
        mmi = rows[rows.method == "mmi"].sort_values("k")
        axes.plot(mmi.k, mmi.test, color=COLORS["mmi"], marker="o", ms=3, label="MMI")
        markers = iter("sD^v<>")
        for _, single in rows[rows.method == "single"].iterrows():
            axes.scatter([1], [single.test], marker=next(markers, "x"), s=28, color=COLORS["single"], zorder=3,
                         label=f"single: {single.members}")
        _finish_k_axes(axes, f"test {METRIC_LABELS.get(metric_name, metric_name)}", title, legend_columns=2)
        return figure
