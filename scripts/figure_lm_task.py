"""The paper's Fig. 3 for one task: MMI over k, random subsets as violins, single members as markers."""

import pandas as pd

from taskspace import figures
from taskspace.scripting import run


def main(snakemake):
    metrics = pd.read_csv(snakemake.input.metrics, sep="\t")
    task = snakemake.wildcards.task
    figures.save(figures.lm_task(metrics, task, title=f"lm: {task}"), snakemake.output)


run(main, snakemake)  # noqa: F821
