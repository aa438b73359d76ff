"""The vision split: probe images, admin tasks and training images, agents and their classes."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.scripting import run
from taskspace.vision.data import load_dataset
from taskspace.vision.split import SplitConfig, make_split


def main(snakemake):
    experiment = snakemake.params.experiment
    where = f"vision.experiments.{snakemake.wildcards.experiment}"
    data = load_dataset(**experiment["dataset"], seed=snakemake.params.seed)
    config = SplitConfig.from_mapping({"seed": snakemake.params.seed, **experiment["split"]}, where=f"{where}.split.")
    make_split(data, config, where=f"{where}.split.").save(snakemake.output.split)


run(main, snakemake)  # noqa: F821
