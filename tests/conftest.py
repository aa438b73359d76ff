"""Shared test helpers."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures(...)``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def paper_kappa_dir():
    """The paper's published 34 x 34 kappa (shared/reference beside the repo; users do not have it)."""
    folder = REFERENCE / "paper-lm-kappa"
    if not (folder / "kappa.npy").exists():
        pytest.skip(f"reference data not present at {folder} (only in the developers' and CI's checkouts)")
    return folder


def run_workflow(workdir: Path, config: dict) -> Path:
    """Run the workflow on ``config`` in ``workdir`` (2 cores, offline); return its results folder."""
    import os
    import subprocess
    import sys

    import yaml

    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "2"],
        capture_output=True, text=True, cwd=workdir, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir / "results"


@pytest.fixture(scope="session")
def workflow():
    """``workflow(workdir, config)`` runs the workflow there and returns its results folder."""
    return run_workflow
