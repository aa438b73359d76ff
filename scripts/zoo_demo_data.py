"""The demo's zoo data written from installed packages (taskspace.zoo.demo.write_demo)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.scripting import run
from taskspace.zoo.demo import write_demo


def main(snakemake):
    write_demo(snakemake.wildcards.demo, snakemake.output.folder, snakemake.params.seed)


run(main, snakemake)  # noqa: F821
