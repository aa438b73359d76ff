"""Heads of one zoo task: every method's picks, every member alone and the rankers' top-k, validated protocol
(taskspace.zoo.evaluate)."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.heads import protocols_from_config
from taskspace.resources import FEATURE_SHARE
from taskspace.scripting import run
from taskspace.zoo.evaluate import evaluate_task


def main(snakemake):
    settings, seed = snakemake.params.settings, snakemake.params.seed
    protocols = protocols_from_config(settings["evaluation"], seed, snakemake.params.device)
    table = evaluate_task(
        settings,
        pd.read_csv(snakemake.input.selection, sep="\t"),
        pd.read_csv(snakemake.input.ranking, sep="\t"),
        protocols,
        snakemake.wildcards.task,
        seed,
        feature_budget_mb=FEATURE_SHARE * snakemake.resources.mem_mb,
    )
    write_table(table, snakemake.output.metrics)


run(main, snakemake)  # noqa: F821
