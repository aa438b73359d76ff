"""The run's validated config (defaults filled in) as YAML, for the report and for rerunning it, with the
machine it ran on (``machine:``, taskspace.provenance; a config read back ignores it)."""

import yaml

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import atomic_path
from taskspace.provenance import machine
from taskspace.scripting import run


def main(snakemake):
    config = {key: value for key, value in snakemake.params.config.items() if key != "machine"}
    with atomic_path(snakemake.output.config) as path:
        path.write_text(yaml.safe_dump({**config, "machine": machine()}, sort_keys=False))


run(main, snakemake)  # noqa: F821
