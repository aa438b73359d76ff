"""Cumulative MI against k: MMI picks versus random subsets."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.scripting import run


def main(snakemake):
    table = pd.read_csv(snakemake.input.table, sep="\t")
    figures.save(figures.mi_gain(table, title=snakemake.params.title), snakemake.output)


run(main, snakemake)  # noqa: F821
