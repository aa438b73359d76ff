"""A space's rankers under one protocol: weighted tau per ranker and task, and the accuracy of their top-k picks."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.scripting import run


def main(snakemake):
    protocol, space = snakemake.wildcards.protocol, snakemake.wildcards.space
    if snakemake.params.kind == "tau":
        table = figures.protocol_rows(pd.read_csv(snakemake.input.table, sep="\t"), protocol)
        figure = figures.transferability(table, title=f"{space}: rankers against every member's head ({protocol})")
    else:
        metrics = figures.protocol_rows(pd.read_csv(snakemake.input.metrics, sep="\t"), protocol)
        figure = figures.rankers_vs_k(metrics, title=f"{space}: heads on the top-k members of each ranker ({protocol})")
    figures.save(figure, snakemake.output)


run(main, snakemake)  # noqa: F821
