"""The paper's Table 2 (TSV and Markdown) from the LM metrics table."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import atomic_path, write_table
from taskspace.lm.report import markdown, table2
from taskspace.scripting import run


def main(snakemake):
    table = table2(pd.read_csv(snakemake.input.metrics, sep="\t"), snakemake.params.baselines)
    write_table(table, snakemake.output.tsv)
    with atomic_path(snakemake.output.md) as partial:
        partial.write_text(markdown(table), encoding="utf-8")


run(main, snakemake)  # noqa: F821
