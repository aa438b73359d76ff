"""kappa of a space from its members' probe features, in one pass over the feature files."""

import logging

from taskspace.device import resolve_device
from taskspace.kappa import kappa_from_feature_files, save_kappa
from taskspace.scripting import run


def main(snakemake):
    result = kappa_from_feature_files(snakemake.input.features, members=snakemake.params.members,
                                      debiased=snakemake.params.debiased,
                                      device=resolve_device(snakemake.params.device))
    logging.getLogger("taskspace.kappa").info(
        "kappa of %d members over %d probe items; items dropped per member: %s",
        len(result.members), result.n_items, result.meta["items_dropped"] or "none")
    save_kappa(result, snakemake.output.kappa)


run(main, snakemake)  # noqa: F821
