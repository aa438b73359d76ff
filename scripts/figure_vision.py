"""The vision figures (the paper's Figs 4-6): accuracy against k, and gain over random."""

import pandas as pd

from taskspace import figures
from taskspace.scripting import run

PLOTS = {"accuracy": figures.accuracy_vs_k, "gain": figures.gain_over_random}


def main(snakemake):
    metrics = pd.read_csv(snakemake.input.metrics, sep="\t")
    plot = PLOTS[snakemake.params.kind]
    figures.save(plot(metrics, title=f"vision/{snakemake.wildcards.experiment}: heads on the picked agents"),
                 snakemake.output)


run(main, snakemake)  # noqa: F821
