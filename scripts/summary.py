"""The run's headline numbers as Markdown (taskspace.summary): results/summary.md."""

import pandas as pd
import yaml

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import atomic_path
from taskspace.provenance import describe
from taskspace.scripting import run
from taskspace.summary import summary


def main(snakemake):
    read = lambda path: pd.read_csv(path, sep="\t")  # noqa: E731
    vision = {name: read(path) for name, path in zip(snakemake.params.experiments, snakemake.input.vision)}
    lm = read(snakemake.input.lm[0]) if snakemake.input.lm else None
    transferability = {space: read(path) for space, path in zip(snakemake.params.spaces, snakemake.input.rankers)}
    zoo = {space: read(path) for space, path in zip(snakemake.params.zoo_spaces, snakemake.input.zoo)}
    picks = {space: read(path) for space, path in zip(snakemake.params.zoo_pick_spaces, snakemake.input.zoo_picks)}
    # The machine that results/config.yaml records (rule run_config), named once for the whole run.
    with open(snakemake.input.config[0], encoding="utf-8") as handle:
        machine = yaml.safe_load(handle)["machine"]
    text = summary(vision, lm, snakemake.params.baselines, transferability, zoo, picks, machine=describe(machine))
    with atomic_path(snakemake.output.summary) as partial:
        partial.write_text(text, encoding="utf-8")


run(main, snakemake)  # noqa: F821
