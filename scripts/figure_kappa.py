"""The paper's Fig. 1: dendrogram of the members and kappa reordered to match."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.kappa import load_kappa
from taskspace.scripting import run


def main(snakemake):
    result = load_kappa(snakemake.input.kappa)
    figure = figures.kappa_dendrogram(result.kappa, result.members, title=snakemake.params.title)
    figures.save(figure, snakemake.output)


run(main, snakemake)  # noqa: F821
