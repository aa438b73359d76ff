"""A demo token task (bigram shift or word replacement) from English text, written as CoNLL-X splits."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.lm.demo_tasks import make_demo_task, write_demo_task
from taskspace.lm.text import demo_sentences
from taskspace.scripting import run


def main(snakemake):
    options = snakemake.params.demo
    sentences = [line.split() for line in demo_sentences(options["min_words"])][-options["sentences"] :]
    splits = make_demo_task(sentences, snakemake.params.format, seed=snakemake.params.seed)
    write_demo_task(splits, {name: getattr(snakemake.output, name) for name in ("train", "dev", "test")})


run(main, snakemake)  # noqa: F821
