"""A small member of another model family, built locally with a fixed seed (tokenizer trained on the probe text)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.lm.tiny import build_tiny_member
from taskspace.scripting import run


def main(snakemake):
    entry = snakemake.params.entry
    with open(snakemake.input.text, encoding="utf-8") as handle:
        texts = handle.read().splitlines()
    build_tiny_member(entry["build"], snakemake.output.folder, texts, seed=entry.get("seed", snakemake.params.seed))


run(main, snakemake)  # noqa: F821
