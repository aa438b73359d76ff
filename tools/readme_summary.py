"""The README's demo tables: results/summary.md of a `make demo` run, with the commit and machine it came from.

    python -m tools.readme_summary README.md results/summary.md    (what `make readme-summary` runs)

Run it after `make demo` whenever the demo's numbers change, and commit the README with the code.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tools.readme import embed

NAME = "demo-summary"


def provenance(checkout: Path) -> str:
    """Which commit (of the checkout the demo ran in) and machine the numbers come from; a checkout with
    uncommitted changes says so."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("torch", "numpy", "scipy"))
    where = f"commit `{commit or 'unknown'}`{' with uncommitted changes' if dirty else ''}"
    return (
        f"Measured by `make demo` at {where} on {os.cpu_count()} CPU cores ({platform.machine()}, "
        f"Python {platform.python_version()}, {versions}); `make readme-summary` wrote this block from "
        f"`results/summary.md`."
    )


def block(summary: str, stamp: str) -> str:
    return f"{stamp}\n\n{summary.strip()}\n"


if __name__ == "__main__":
    readme_path, summary_path = sys.argv[1:3]
    with open(readme_path, encoding="utf-8") as handle:
        readme = handle.read()
    with open(summary_path, encoding="utf-8") as handle:
        summary = handle.read()
    # the demo's working directory holds results/summary.md: its checkout made the numbers (asked before the
    # README is opened for writing, which would make the checkout look modified)
    text = embed(readme, NAME, block(summary, provenance(Path(summary_path).resolve().parents[1])))
    with open(readme_path, "w", encoding="utf-8") as handle:
        handle.write(text)
