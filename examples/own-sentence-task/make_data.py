"""Writes this example's sentence task: gensim's 200 labelled movie-review sentences as TSV tables with a
`text` and a `label` column (train.tsv, dev.tsv, test.tsv) and probe.txt (news sentences, one a line).
Your own task is the same kind of table: CSV, TSV or JSONL, a text column (and a second one for pairs),
a label column with class names or real values.

    .venv/bin/python examples/own-sentence-task/make_data.py examples/own-sentence-task/data
"""

import sys

from taskspace.sources.demo import write_polarity_tables

if __name__ == "__main__":
    counts = write_polarity_tables(
        sys.argv[1], seed=0, train_per_class=30, dev_per_class=10, test_per_class=20, probe_sentences=120
    )
    print(counts)
