"""Shared test helpers."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture
def paper_kappa_dir():
    """The paper's published 34 x 34 kappa (shared/reference beside the repo; users do not have it)."""
    folder = REFERENCE / "paper-lm-kappa"
    if not (folder / "kappa.npy").exists():
        pytest.skip(f"reference data not present at {folder} (only in the developers' and CI's checkouts)")
    return folder
