"""A zoo's heads against k under one protocol: the test metric (MMI line, random band) or MMI's gain over random."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.scripting import run

PLOTS = {"accuracy": figures.accuracy_vs_k, "gain": figures.gain_over_random}


def main(snakemake):
    kind, protocol = snakemake.wildcards.kind, snakemake.wildcards.protocol
    metrics = figures.protocol_rows(pd.read_csv(snakemake.input.metrics, sep="\t"), protocol)
    title = f"zoo/{snakemake.wildcards.zoo}: heads on the picked members ({protocol} protocol)"
    figures.save(PLOTS[kind](metrics, title=title), snakemake.output)


run(main, snakemake)  # noqa: F821
