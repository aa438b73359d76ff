"""Heads of one admin task: every (method, round, k) of the selection table under every protocol, trained
together, in groups whose agents' features fit a share of the job's memory."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.heads import protocols_from_config
from taskspace.resources import FEATURE_SHARE
from taskspace.scripting import run
from taskspace.vision.evaluate import evaluate_task
from taskspace.vision.split import load_split


def main(snakemake):
    seed = snakemake.params.seed
    protocols = protocols_from_config(snakemake.params.evaluation, seed, snakemake.params.device)
    selection = pd.read_csv(snakemake.input.selection, sep="\t")
    ranking = pd.read_csv(snakemake.input.ranking, sep="\t")
    table = evaluate_task(
        snakemake.input.features,
        snakemake.params.agents,
        load_split(snakemake.input.split),
        snakemake.wildcards.task,
        selection,
        protocols,
        seed,
        feature_budget_mb=FEATURE_SHARE * snakemake.resources.mem_mb,
        ranking=ranking,
    )
    write_table(table, snakemake.output.metrics)


run(main, snakemake)  # noqa: F821
