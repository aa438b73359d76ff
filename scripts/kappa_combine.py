"""kappa of a space from its members' sketches (taskspace.kappa.kappa_from_sketches): the Grams the member jobs
made, and the features of the members without one, in the cheaper form at the files' shapes. The log says which
form and why, and counts, per member, the probe items it lacks (kappa leaves each of them out for all members)."""

import logging

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.device import resolve_device
from taskspace.kappa import kappa_from_sketches, save_kappa
from taskspace.resources import MATRIX_SHARE
from taskspace.scripting import run


def main(snakemake):
    result = kappa_from_sketches(
        snakemake.input.sketches,
        features=snakemake.params.files,
        members=snakemake.params.members,
        debiased=snakemake.params.debiased,
        device=resolve_device(snakemake.params.device),
        memory_budget_mb=MATRIX_SHARE * snakemake.resources.mem_mb,
    )
    lacking = [f"{m} {int(n)}" for m, n in zip(result.members, result.dropped) if n]
    logging.getLogger("taskspace.kappa").info(
        "kappa of %d members over %d probe items; %d items left out because some member lacks them; "
        "items each member lacks: %s",
        len(result.members),
        result.n_items,
        result.n_items_dropped,
        ", ".join(lacking) + " (the others none)" if lacking else "none",
    )
    save_kappa(result, snakemake.output.kappa)


run(main, snakemake)  # noqa: F821
