"""The vision figures (the paper's Figs 4-6) of one protocol: accuracy against k, and gain over random."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.scripting import run

PLOTS = {"accuracy": figures.accuracy_vs_k, "gain": figures.gain_over_random}


def main(snakemake):
    protocol = snakemake.wildcards.protocol
    metrics = figures.protocol_rows(pd.read_csv(snakemake.input.metrics, sep="\t"), protocol)
    title = f"vision/{snakemake.wildcards.experiment}: heads on the picked agents ({protocol} protocol)"
    figures.save(PLOTS[snakemake.params.kind](metrics, title=title), snakemake.output)


run(main, snakemake)  # noqa: F821
