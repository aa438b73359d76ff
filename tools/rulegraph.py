"""The README's rule graph: Snakemake's ``--rulegraph mermaid-js`` output in a stable, readable form.

Snakemake numbers the nodes and orders the edges differently from run to run; the README keeps the rule
names and sorted edges, so that a test can tell whether the picture is stale.

    snakemake --rulegraph mermaid-js | python -m tools.rulegraph README.md    (what `make rulegraph` runs)

A tool of the checkout, not of the installed package (tests/test_readme.py imports it from here).
"""

from __future__ import annotations

import re
import sys

from tools.readme import embed
from tools.readme import embedded as readme_block

NODE = re.compile(r"^\s*(id\d+)\[(\w+)\]\s*$")
EDGE = re.compile(r"^\s*(id\d+)\s*-->\s*(id\d+)\s*$")


def canonical(mermaid: str) -> str:
    """A mermaid flowchart with rule names as node ids and sorted edges, styles dropped."""
    names = {}
    for line in mermaid.splitlines():
        node = NODE.match(line)
        if node:
            names[node.group(1)] = node.group(2)
    matches = (EDGE.match(line) for line in mermaid.splitlines())
    edges = sorted({(names[m.group(1)], names[m.group(2)]) for m in matches if m})
    lines = ["flowchart LR"] + [f"    {a} --> {b}" for a, b in edges]
    return "```mermaid\n" + "\n".join(lines) + "\n```"


def embedded(readme: str) -> str:
    """The graph currently in the README."""
    return readme_block(readme, "rulegraph")


if __name__ == "__main__":
    path = sys.argv[1]
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(embed(text, "rulegraph", canonical(sys.stdin.read())))
