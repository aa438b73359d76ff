"""Selection table of one space: MMI picks and random k-subsets for k = 1..k_max."""

from taskspace.atomic import write_table
from taskspace.kappa import load_kappa
from taskspace.scripting import run
from taskspace.selection import selection_table


def main(snakemake):
    result = load_kappa(snakemake.input.kappa)
    options = snakemake.params.selection
    table = selection_table(result.kappa, result.members, k_max=options["k_max"], hub_first=options["hub_first"],
                            random_rounds=options["random_rounds"], seed=snakemake.params.seed)
    write_table(table, snakemake.output.table)


run(main, snakemake)  # noqa: F821
