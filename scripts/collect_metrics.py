"""One tidy metrics table from the per-task tables."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.scripting import run


def main(snakemake):
    tables = [pd.read_csv(path, sep="\t") for path in snakemake.input.tasks]
    write_table(pd.concat(tables, ignore_index=True), snakemake.output.metrics)


run(main, snakemake)  # noqa: F821
