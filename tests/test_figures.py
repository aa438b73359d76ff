"""Figures that follow the paper's own plotting code: Fig. 1 (LMs/estimate_kappa/show_dendrogram.py) and
Fig. 2 (LMs/estimate_kappa/convergence.py)."""

import numpy as np
import pandas as pd
import pytest
from conftest import PAPER_KAPPA
from scipy.cluster.hierarchy import dendrogram, fcluster, linkage
from scipy.spatial.distance import squareform

from taskspace import figures
from taskspace.atomic import write_table
from taskspace.kappa import load_kappa


def test_dendrogram_table_is_the_papers_ward_tree(tmp_path):
    """The TSV beside Fig. 1 lists scipy's Ward leaves (optimal ordering) on the paper's published kappa from
    the top of the figure, with the flat clusters at the paper's colour threshold 0.9."""
    kappa = np.load(PAPER_KAPPA / "kappa.npy")
    members = (PAPER_KAPPA / "members.txt").read_text().split()
    tree = linkage(squareform(1.0 - kappa), "ward", optimal_ordering=True)  # show_dendrogram.py's call
    drawn = dendrogram(tree, orientation="right", labels=members, color_threshold=0.9, no_plot=True)
    top_down = drawn["leaves"][::-1]  # orientation right draws the first leaf at the bottom
    clusters = fcluster(tree, 0.9, criterion="distance")
    expected = pd.DataFrame(
        {
            "position": range(1, 35),
            "member": [members[i] for i in top_down],
            "cluster": clusters[top_down].astype(np.int64),
        }
    )

    result = load_kappa(PAPER_KAPPA / "kappa.npy", names=PAPER_KAPPA / "members.txt")
    figure, table = figures.kappa_dendrogram(result.kappa, result.members, title="paper-lm")
    write_table(table, tmp_path / "kappa-dendrogram.tsv")  # as scripts/figure_kappa.py writes it
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "kappa-dendrogram.tsv", sep="\t"), expected)
    assert table.cluster.nunique() > 1  # the threshold cuts the tree

    heat_axes, tree_axes = figure.axes[:2]
    np.testing.assert_array_equal(heat_axes.images[0].get_array(), kappa[np.ix_(top_down, top_down)])
    assert [label.get_text() for label in heat_axes.get_xticklabels()] == list(expected.member)
    assert [label.get_text() for label in tree_axes.get_yticklabels()][::-1] == list(expected.member)
    colours = [label.get_color() for label in tree_axes.get_yticklabels()][::-1]  # top down
    assert colours == drawn["leaves_color_list"][::-1]
    figures.save(figure, [tmp_path / "kappa-dendrogram.png"])


def test_one_member_zoo_draws_a_single_leaf(tmp_path):
    figure, table = figures.kappa_dendrogram(np.ones((1, 1)), ["solo"], title="one member")
    assert table.to_dict("records") == [{"position": 1, "member": "solo", "cluster": 1}]
    figures.save(figure, [tmp_path / "one.png"])
    assert (tmp_path / "one.png").stat().st_size > 1000


def test_convergence_figure_is_the_papers_semilogx():
    """Log x, linear y, the identity kappa as the first point at 1 word, kappa_n at the words of the first
    n lines, kappa* (KL 0) at all the probe's words; the second panel says what its correlation is."""
    table = pd.DataFrame(
        {
            "sentences": [32, 128],
            "words": [700, 2900],
            "items_used": [690, 2850],
            "kl": [3.0, 1.0],
            "correlation": [0.8, 0.95],
            "identity_kl": [9.0, 9.0],
            "probe_words": [20000, 20000],
        }
    )
    figure = figures.convergence(table, title="convergence")
    kl_axes, corr_axes = figure.axes
    line = kl_axes.lines[0]
    assert list(line.get_xdata()) == [1, 700, 2900, 20000] and list(line.get_ydata()) == [9.0, 3.0, 1.0, 0.0]
    assert kl_axes.get_xscale() == "log" and kl_axes.get_yscale() == "linear"
    assert "KL(kappa* || kappa_n)" in kl_axes.get_ylabel()
    assert "Pearson" in corr_axes.get_ylabel() and "off-diagonal" in corr_axes.get_title()
    assert list(corr_axes.lines[0].get_ydata()) == [0.8, 0.95, 1.0]
    every_line = table.assign(sentences=[32, 100], words=[700, 20000])  # the last n is the whole probe
    assert list(figures.convergence(every_line, title="c").axes[0].lines[0].get_xdata()) == [1, 700, 20000]


@pytest.mark.parametrize("m", [2, 3])
def test_small_zoos_draw(tmp_path, m):
    kappa = np.full((m, m), 0.3) + 0.7 * np.eye(m)
    figure, table = figures.kappa_dendrogram(kappa, [f"m{i}" for i in range(m)], title="small")
    assert sorted(table.member) == [f"m{i}" for i in range(m)] and table.position.tolist() == list(range(1, m + 1))
    figures.save(figure, [tmp_path / "small.png"])
