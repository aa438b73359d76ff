"""The same config twice gives the same results (issue 6, section 4).

Two runs of one config in two work folders, on the CPU: selection tables byte-identical, kappa arrays
identical, metrics tables byte-identical (so equal to the last printed digit), and every other result
(features, task files, figures, the summary's sections) equal too; only wall-clock fields differ. The first
run is the shared tiny run of the session (tests/conftest.py), rather than the demo, which takes too long to
run twice in CI; the demo uses the same code paths and seeds. The second is the session's other run of its zoo
spaces (every member kind and data format), which tests/resumed_run.py SIGKILLs twice and resumes: a stricter
second run than an uninterrupted one (every job of it runs in a fresh process, some twice). The paper tracks'
second run is the Slurm test's (tests/slurm/), compared with the shared run file by file there.
"""

import numpy as np
import pytest
import tiny_runs as runs

from taskspace.kappa import load_kappa

pytestmark = pytest.mark.workflow
SPACES = ("zoo/tiny-image", "zoo/tiny-text", "zoo/tiny-notask")


@pytest.fixture(scope="module")
def two_runs(tiny_run, tiny_run_resumed):
    assert tiny_run_resumed.final is not None and tiny_run_resumed.final.returncode == 0, tiny_run_resumed.error
    return tiny_run.workdir, tiny_run_resumed.workdir


@pytest.mark.parametrize("space", SPACES)
def test_selection_tables_are_byte_identical(two_runs, space):
    first, second = (run / "results" / space / "selection.tsv" for run in two_runs)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("space", SPACES)
def test_kappa_arrays_are_identical(two_runs, space):
    first, second = (load_kappa(run / "results" / space / "kappa.npz") for run in two_runs)
    assert first.members == second.members and first.n_items == second.n_items
    assert np.array_equal(first.kappa, second.kappa)  # exactly, not approximately


@pytest.mark.parametrize("table", ["zoo/tiny-image/metrics.tsv", "zoo/tiny-text/metrics.tsv"])
def test_metrics_are_equal_to_the_last_printed_digit(two_runs, table):
    first, second = (run / "results" / table for run in two_runs)
    assert first.read_bytes() == second.read_bytes()


def test_every_result_is_the_same(two_runs):
    first, second = (runs.outputs(run, zoos_only=True) for run in two_runs)
    assert sorted(first) == sorted(second)
    differ = [path for path in first if first[path] != second[path]]
    assert not differ, f"results that differ between two runs of one config: {differ}"
    first, second = (run / "results" / "summary.md" for run in two_runs)
    assert runs.summary_sections(first, tracks=False) == runs.summary_sections(second)
