"""A builder's module with seeded random weights as a safetensors file (taskspace.zoo.demo.seeded_weights)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.scripting import run
from taskspace.zoo.demo import seeded_weights


def main(snakemake):
    seeded_weights(snakemake.params.entry, int(snakemake.wildcards.seed), snakemake.output.weights)


run(main, snakemake)  # noqa: F821
