"""The README's promises that can go stale."""

import subprocess
import sys
from pathlib import Path

from taskspace.rulegraph import canonical, embedded

REPO = Path(__file__).resolve().parents[1]


def test_rule_graph_in_readme_is_current():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", "config.yaml", "--rulegraph", "mermaid-js"],
        capture_output=True, text=True, cwd=REPO, check=True,
    )
    readme = (REPO / "README.md").read_text()
    assert embedded(readme) == canonical(result.stdout), "README rule graph is stale: run `make rulegraph`"


def test_quick_start_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci/run").read_text()
