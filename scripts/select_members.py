"""Selection table of one space: MMI picks and random k-subsets for k = 1..k_max, plus the peek ranking's."""

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.kappa import load_kappa
from taskspace.mmi import GaussianZoo
from taskspace.scripting import run
from taskspace.selection import ranked_table, selection_table


def main(snakemake):
    result = load_kappa(snakemake.input.kappa)
    options = snakemake.params.selection
    zoo = GaussianZoo(result.kappa, result.members)
    tables = [
        selection_table(
            result.kappa,
            result.members,
            k_max=options["k_max"],
            hub_first=options["hub_first"],
            random_rounds=options["random_rounds"],
            seed=snakemake.params.seed,
            zoo=zoo,
        )
    ]
    if "ranking" in snakemake.input.keys():  # peek: the members' order in a ranking table, best first
        ranking = pd.read_csv(snakemake.input.ranking, sep="\t")
        tables.append(ranked_table("peek", ranking.iloc[:, 0], result.members, options["k_max"], zoo=zoo))
    write_table(pd.concat(tables, ignore_index=True), snakemake.output.table)


run(main, snakemake)  # noqa: F821
