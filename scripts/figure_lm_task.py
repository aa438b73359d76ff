"""The paper's Fig. 3 for one task and protocol: MMI over k, random subsets as violins, single members as markers."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace import figures
from taskspace.scripting import run


def main(snakemake):
    task, protocol = snakemake.wildcards.task, snakemake.wildcards.protocol
    metrics = figures.protocol_rows(pd.read_csv(snakemake.input.metrics, sep="\t"), protocol)
    title = f"lm: {task} ({protocol} protocol)"
    figures.save(figures.lm_task(metrics, task, title, snakemake.params.baselines), snakemake.output)


run(main, snakemake)  # noqa: F821
