"""The paper's Fig. 2 data: kappa on the first n probe lines against the full kappa, in one pass."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.atomic import write_table
from taskspace.kappa import kappa_convergence
from taskspace.scripting import run


def main(snakemake):
    _, table = kappa_convergence(
        snakemake.input.features,
        snakemake.params.sentences,
        members=snakemake.params.members,
        text=snakemake.input.text,
    )
    write_table(table, snakemake.output.table)
    figures.save(figures.convergence(table, title="lm: convergence of kappa with probe size"), snakemake.output.figure)


run(main, snakemake)  # noqa: F821
