"""The paper's Fig. 1: kappa reordered as the members' tree, the tree, and the leaf order as a table."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.atomic import write_table
from taskspace.kappa import load_kappa
from taskspace.scripting import run


def main(snakemake):
    result = load_kappa(snakemake.input.kappa)
    figure, table = figures.kappa_dendrogram(result.kappa, result.members, title=snakemake.params.title)
    write_table(table, snakemake.output.table)
    figures.save(figure, snakemake.output.figure)


run(main, snakemake)  # noqa: F821
