"""The probe text: sentences of at least min_words words, one a line (the demo's from gensim's corpora)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import atomic_path
from taskspace.lm.text import read_probe_text, write_demo_probe_text
from taskspace.scripting import run


def main(snakemake):
    probe = snakemake.params.probe
    if probe["text"] == "demo":
        write_demo_probe_text(snakemake.output.text, probe["min_words"], probe["max_sentences"])
        return
    sentences = read_probe_text(probe["text"], probe["min_words"], probe["max_sentences"])
    with atomic_path(snakemake.output.text) as partial:
        partial.write_text("".join(" ".join(words) + "\n" for words in sentences), encoding="utf-8")


run(main, snakemake)  # noqa: F821
