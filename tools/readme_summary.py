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

from tools.readme import embed

NAME = "demo-summary"


def provenance() -> str:
    """Which commit and machine the numbers come from (a checkout with uncommitted changes says so)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
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
    with open(readme_path, "w", encoding="utf-8") as handle:
        handle.write(embed(readme, NAME, block(summary, provenance())))
