"""Resume after a hard kill (issue 6, section 1): the checks of the session's killed-and-resumed run.

tests/resumed_run.py runs the shared tiny run's zoo spaces in a folder of their own, SIGKILLs the run twice
(Snakemake and its running job, as a crashed node or an out-of-memory kill would: first while a member's
feature file is being written in a pass folder, then while a head-training job trains) and recovers as
docs/troubleshooting.md says (``snakemake --unlock`` and the same command again; profiles/local sets
``rerun-incomplete``). After each kill no result that looks finished is wrong or partial; the final results
equal those of the uninterrupted shared run, and the results finished before a kill are not redone. (The
paper tracks are interrupted and resumed in the Slurm test, tests/slurm/.)
"""

import re
import signal

import pytest
import tiny_runs as runs
from conftest import tail
from resumed_run import Kill, completed

pytestmark = pytest.mark.workflow


def assert_nothing_finished_looking_is_wrong(kill: Kill, reference: dict, workdir) -> None:
    """Right after a kill: the killed job's output was absent, and every result present was complete (equal
    to the uninterrupted run's); Snakemake had marked the killed job's output incomplete, to be redone."""
    assert kill.returncode == -signal.SIGKILL, tail(kill.log)
    assert not (workdir / kill.killed).exists() or kill.incomplete(kill.killed.relative_to(workdir).as_posix())
    assert kill.killed.relative_to(workdir).as_posix() not in kill.present, f"{kill.killed} existed after the kill"
    strays = sorted(set(kill.present) - set(reference))
    assert not strays, f"files no uninterrupted run makes: {strays}"
    wrong = [path for path, digest in kill.present.items() if digest != reference[path]]
    assert not wrong, f"results that looked finished but differed from an uninterrupted run: {wrong}"
    assert kill.killed.relative_to(workdir).as_posix() in kill.marked
    assert kill.lock_left, "a SIGKILLed run should leave its lock"


def test_killed_twice_then_rerun_gives_the_uninterrupted_results(tiny_run, tiny_run_resumed):
    resumed, workdir = tiny_run_resumed, tiny_run_resumed.workdir
    assert not resumed.error, resumed.error
    reference = runs.outputs(tiny_run.workdir, zoos_only=True)
    first, second = resumed.kills

    # 1. SIGKILLed while a member's feature file was being written in its pass folder: the half-written file
    # sat under its hidden name only, which no reader takes for a feature file
    assert first.partial_exists
    assert re.search("incomplete feature file|not a readable HDF5 file", first.partial_error), first.partial_error
    assert_nothing_finished_looking_is_wrong(first, reference, workdir)
    # a rerun before unlocking was refused, with what to do
    assert resumed.refused.returncode != 0 and "--unlock" in tail(resumed.refused)

    # 2. the same command again, SIGKILLed while a head-training job trained
    assert_nothing_finished_looking_is_wrong(second, reference, workdir)

    # 3. the same command again finished the rest
    assert resumed.final is not None and resumed.final.returncode == 0, completed(resumed.final)
    final = runs.outputs(workdir, zoos_only=True)
    assert sorted(final) == sorted(reference)
    differ = [path for path in final if final[path] != reference[path]]
    assert not differ, f"results that differ from an uninterrupted run: {differ}"
    assert not runs.hidden_files(workdir), "partial files left behind"
    summary, shared = workdir / "results" / "summary.md", tiny_run / "summary.md"
    assert runs.summary_sections(summary) == runs.summary_sections(shared, tracks=False)
    # what was finished before a kill was kept, not redone
    for kill in (first, second):
        redone = [path for path, mtime in kill.mtimes.items() if (workdir / path).stat().st_mtime_ns != mtime]
        assert not redone, f"finished results redone after the kill: {redone}"
    assert len(second.mtimes) > len(first.mtimes) > 0
