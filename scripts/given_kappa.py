"""Validate a user-supplied kappa (.npy or .npz, optional names file) and store it as a kappa file."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.kappa import load_kappa, save_kappa
from taskspace.mmi import validate_kappa
from taskspace.scripting import run


def main(snakemake):
    result = load_kappa(snakemake.input.kappa, names=snakemake.input.get("members"))
    result.kappa = validate_kappa(result.kappa, name=snakemake.input.kappa)
    save_kappa(result, snakemake.output.kappa)


run(main, snakemake)  # noqa: F821 (snakemake is injected by the script directive)
