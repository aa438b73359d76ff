"""One member's part of kappa: its probe feature file read once, its sketch written (taskspace.kappa.sketch_member:
its centred Gram when that is at most twice its features, else its item keys). The log says which and why."""

import logging

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.kappa import save_sketch, sketch_member
from taskspace.resources import MATRIX_SHARE
from taskspace.scripting import run


def main(snakemake):
    sketch = sketch_member(
        snakemake.params.file,
        member=snakemake.wildcards.member,
        memory_budget_mb=MATRIX_SHARE * snakemake.resources.mem_mb,
    )
    logging.getLogger("taskspace.kappa").info("%s", sketch.describe())
    save_sketch(sketch, snakemake.output.sketch)


run(main, snakemake)  # noqa: F821 (snakemake is injected by the script directive)
