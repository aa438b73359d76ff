"""Token probes of one task: every (method, round, k) head of the selection table under every protocol, trained
together, in groups whose members' word features fit a share of the job's memory."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.heads import protocols_from_config
from taskspace.lm.evaluate import probe_task
from taskspace.lm.tasks import read_task, task_spec
from taskspace.resources import FEATURE_SHARE
from taskspace.scripting import run


def main(snakemake):
    fmt = snakemake.params.format
    spec = task_spec(fmt)
    splits = {name: read_task(fmt, path) for name, path in snakemake.params.files.items()}
    protocols = protocols_from_config(snakemake.params.evaluation, snakemake.params.seed, snakemake.params.device)
    selection = pd.read_csv(snakemake.input.selection, sep="\t")
    ranking = pd.read_csv(snakemake.input.ranking, sep="\t")
    table = probe_task(
        snakemake.input.features,
        snakemake.params.members,
        snakemake.wildcards.task,
        spec,
        splits,
        selection,
        protocols,
        feature_budget_mb=FEATURE_SHARE * snakemake.resources.mem_mb,
        ranking=ranking,
    )
    write_table(table, snakemake.output.metrics)


run(main, snakemake)  # noqa: F821
