"""The peek ranking: agents ordered by single-agent head accuracy on one admin task (validated protocol's heads)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.heads import protocol_from_config
from taskspace.resources import FEATURE_SHARE
from taskspace.scripting import run
from taskspace.vision.evaluate import peek_ranking
from taskspace.vision.split import load_split


def main(snakemake):
    options = snakemake.params.evaluation
    seed = snakemake.params.seed
    split = load_split(snakemake.input.split)
    protocol = protocol_from_config("validated", options, seed, snakemake.params.device)
    table = peek_ranking(
        snakemake.input.features,
        snakemake.params.agents,
        split,
        split.task_names[options["peek_task"]],
        protocol,
        seed,
        feature_budget_mb=FEATURE_SHARE * snakemake.resources.mem_mb,
    )
    write_table(table, snakemake.output.ranking)


run(main, snakemake)  # noqa: F821
