"""Puts the workflow's own taskspace first on sys.path; every rule script imports this before taskspace.

Snakemake runs a ``script:`` from a copy under ``.snakemake/scripts/`` and appends to ``sys.path`` the folders
on the Snakemake process's own path, its site-packages first, and, last, the script's folder (this one, which
is how this module is found). In a conda env made from ``envs/*.yaml`` taskspace is not installed. The
checkout that holds it is on the appended path only because Snakemake 9 also puts the Snakefile's folder on
its own path (for imports in the Snakefile; an open Snakemake pull request means to stop that), and it comes
after any site-packages folder on that path, where another installed taskspace would win. So this module puts
the checkout first: a rule always runs the library of the workflow it belongs to, installed or not.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
