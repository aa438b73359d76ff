"""A member's feature file from its pass's folder (rule lm_pass): linked where every member's file is."""

from pathlib import Path

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import link_into_place
from taskspace.scripting import run


def main(snakemake):
    link_into_place(Path(snakemake.input.folder) / f"{snakemake.wildcards.member}.h5", snakemake.output.features)


run(main, snakemake)  # noqa: F821
