"""The agents table: classes, training and held-out accuracy, training time of every agent."""

import json

import pandas as pd

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.atomic import write_table
from taskspace.scripting import run


def main(snakemake):
    rows = []
    for path in snakemake.input.meta:
        with open(path) as handle:
            meta = json.load(handle)
        rows.append(
            {
                "agent": meta["name"],
                "classes": " ".join(map(str, meta["classes"])),
                "train_acc": meta["train_accuracy"],
                "held_out_acc": meta["held_out_accuracy"],
                "train_seconds": meta["train_seconds"],
            }
        )
    write_table(pd.DataFrame(rows), snakemake.output.table)


run(main, snakemake)  # noqa: F821
