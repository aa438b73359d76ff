"""The probe text: lines of at least min_words words, one a line (the demo's sentences from gensim's corpora,
or the lines of the user's file; `format: wikitext` counts words as the paper's `awk 'NF>=10'`)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import atomic_path
from taskspace.lm.text import read_probe_text, write_demo_probe_text
from taskspace.scripting import run


def main(snakemake):
    probe = snakemake.params.probe
    if probe["text"] == "demo":
        write_demo_probe_text(snakemake.output.text, probe["min_words"], probe["max_sentences"])
        return
    sentences = read_probe_text(probe["text"], probe["min_words"], probe["max_sentences"], probe["format"])
    with atomic_path(snakemake.output.text) as partial:
        partial.write_text("".join(" ".join(words) + "\n" for words in sentences), encoding="utf-8")


run(main, snakemake)  # noqa: F821
