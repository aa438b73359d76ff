"""The run's validated config (defaults filled in) as YAML, for the report and for rerunning it."""

import yaml

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import atomic_path
from taskspace.scripting import run


def main(snakemake):
    with atomic_path(snakemake.output.config) as path:
        path.write_text(yaml.safe_dump(dict(snakemake.params.config), sort_keys=False))


run(main, snakemake)  # noqa: F821
