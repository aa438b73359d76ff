"""How well each ranker's scores predict every member's own head, per task and protocol (taskspace.transferability)."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.scripting import run
from taskspace.transferability import ground_truth, transferability_table


def main(snakemake):
    rankings = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input.rankings], ignore_index=True)
    metrics = pd.read_csv(snakemake.input.metrics, sep="\t")
    write_table(transferability_table(rankings, ground_truth(metrics)), snakemake.output.table)


run(main, snakemake)  # noqa: F821
