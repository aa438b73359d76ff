"""The peek ranking: agents ordered by single-agent head accuracy on one admin task."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.head import HeadConfig
from taskspace.resources import FEATURE_SHARE
from taskspace.scripting import run
from taskspace.vision.evaluate import peek_ranking
from taskspace.vision.split import load_split


def main(snakemake):
    options = snakemake.params.evaluation
    split = load_split(snakemake.input.split)
    heads = HeadConfig.from_mapping({"seed": snakemake.params.seed, "device": snakemake.params.device,
                                     **options["heads"]})
    table = peek_ranking(snakemake.input.features, snakemake.params.agents, split, split.task_names[options["peek_task"]],
                         heads, options["val_per_class"], snakemake.params.seed,
                         feature_budget_mb=FEATURE_SHARE * snakemake.resources.mem_mb)
    write_table(table, snakemake.output.ranking)


run(main, snakemake)  # noqa: F821
