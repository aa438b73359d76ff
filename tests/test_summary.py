"""The run summary (taskspace.summary) and the README block it becomes (tools/readme_summary.py)."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from taskspace.summary import picks_table, ranker_table, summary, vision_table
from tools.readme import embed, embedded
from tools.readme_summary import NAME, block


def _metrics():
    rows = []
    for task, base in (("task0", 0.5), ("task1", 0.7)):
        for k in (1, 2):
            rows.append(dict(task=task, protocol="validated", method="mmi", round=0, k=k, members="a", test=base + 0.1))
            rows.append(dict(task=task, protocol="validated", method="peek", round=0, k=k, members="a", test=base))
            rows += [
                dict(task=task, protocol="validated", method="random", round=r, k=k, members="a", test=base + 0.02 * r)
                for r in range(3)
            ]
            rows.append(dict(task=task, protocol="validated", method="gbc", round=0, k=k, members="a", test=base))
    return pd.DataFrame(rows).assign(metric="accuracy")


def test_vision_table_averages_rounds_over_tasks_first_and_counts_gain_cells():
    text = vision_table(_metrics())
    # k = 1: MMI (0.6 + 0.8) / 2; random rounds 0.6, 0.62, 0.64 after averaging the two tasks
    assert "| 1 | 0.700 | 0.600 | 0.620 | 0.602 | 0.638 |" in text
    assert "MMI minus the random mean: +8.00 accuracy points" in text and "above it in 4 of 4 task x k cells" in text


def test_ranker_and_picks_tables():
    transfer = pd.DataFrame(
        {
            "task": ["t0", "t1"] * 3,
            "protocol": "validated",
            "ranker": ["gbc", "gbc", "mmi", "mmi", "logme", "logme"],
            "weighted_tau": [0.2, 0.4, -0.1, 0.1, 0.5, np.nan],
            "pearson": 0.0,
            "top1_relative": 1.0,
            "n_members": 4,
        }
    )
    lines = ranker_table(transfer).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| mmi", "| logme", "| gbc"]  # label-free first
    assert lines[3].startswith("| logme | 0.500 | 0.500 | 0.500 |")
    picks = picks_table(_metrics()).splitlines()
    assert picks[0] == "| method | k=1 | k=2 | mean |" and picks[2].startswith("| mmi | 0.700 | 0.700 | 0.700 |")
    assert "| gbc |" in picks[-1]
    text = summary({"digits": _metrics()}, None, (), {"vision/digits": transfer})
    assert text.index("#### vision/digits, validated protocol") < text.index("#### vision/digits, rankers")


def test_readme_block_round_trips_and_names_a_commit_of_this_repository():
    readme = "intro\n<!-- demo-summary:start -->\nold\n<!-- demo-summary:end -->\nend\n"
    new = embed(readme, NAME, block("| table |", "Measured by `make demo` at commit `abc1234`"))
    assert embedded(new, NAME).startswith("Measured by") and new.endswith("end\n") and "old" not in new
    with pytest.raises(ValueError, match="no <!-- rulegraph:start -->"):
        embed(readme, "rulegraph", "x")
    stamp = embedded((REPO / "README.md").read_text(), NAME).splitlines()[0]
    commit = re.search(r"at commit `([0-9a-f]{7,})`", stamp)
    assert commit, f"the README's demo tables do not name their commit: {stamp!r}"
    known = subprocess.run(["git", "cat-file", "-t", commit.group(1)], cwd=REPO, capture_output=True, text=True)
    if known.returncode != 0 and "not a git repository" in known.stderr:
        pytest.skip("not a git checkout")
    assert known.stdout.strip() == "commit", f"commit {commit.group(1)} named by the README is not in this repository"
