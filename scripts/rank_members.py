"""Ranking of one task: every member scored by every ranker on the task's training split, plus the label-free
MMI order and the task-aware MMI order (taskspace.ranking)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.kappa import load_kappa
from taskspace.ranking import rank_task
from taskspace.scripting import run


def training_set(snakemake):
    """(labels, load(member), regression) of the task, from the vision split, the LM task files or a zoo task."""
    task, settings = snakemake.wildcards.task, snakemake.params.settings
    if settings["track"] == "zoo":
        from taskspace.zoo.evaluate import task_training_set

        labels, load, regression, _ = task_training_set(settings)
        return labels, load, regression
    if settings["track"] == "vision":
        from taskspace.vision.evaluate import task_training_set
        from taskspace.vision.split import load_split

        labels, load = task_training_set(snakemake.input.features, load_split(snakemake.input.split), task)
        return labels, load, False
    from taskspace.lm.evaluate import task_training_words
    from taskspace.lm.tasks import REGRESSION, read_task, task_spec

    fmt = settings["format"]
    spec = task_spec(fmt)
    splits = {name: read_task(fmt, path) for name, path in settings["files"].items()}
    labels, load = task_training_words(snakemake.input.features, spec, splits)
    return labels, load, spec.kind == REGRESSION


def main(snakemake):
    settings = snakemake.params.settings
    labels, load, regression = training_set(snakemake)
    kappa = load_kappa(snakemake.input.kappa)
    table = rank_task(
        snakemake.wildcards.task,
        kappa.members,
        load,
        labels,
        settings["rankers"],
        regression=regression,
        kappa=kappa.kappa,
        hub_first=settings["hub_first"],
    )
    write_table(table, snakemake.output.ranking)


run(main, snakemake)  # noqa: F821
