"""Resume after a hard kill (issue 6, section 1).

One run of the shared tiny config (tests/configs/tiny.yaml with given.yaml) is SIGKILLed twice, with
Snakemake and its running job (the whole process group, as a crashed node or an out-of-memory kill would):
first in the middle of a feature extraction (while the member's feature file is being written), then, after
the documented recovery, in the middle of a head-training job. After each kill no result that looks finished
is wrong or partial. The documented recovery (docs/troubleshooting.md) is ``snakemake --unlock`` and the same
command again (profiles/local sets ``rerun-incomplete``); the final results equal those of an uninterrupted
run, and the results finished before a kill are not redone. Every run is that command: ``snakemake --profile
profiles/local`` with the config, on 2 cores, offline; the uninterrupted run is the session's shared tiny run.
"""

import base64
import os
import re
import signal
import time
from pathlib import Path

import pytest
import tiny_runs as runs
from conftest import RUN_TIMEOUT_S, prepare_workdir, snakemake, start_snakemake, tail, tiny_config

from taskspace.errors import TaskspaceError
from taskspace.features import FeatureFile

pytestmark = pytest.mark.workflow
POLL_S = 0.01


def feature_job_writing(workdir: Path, since: float):
    """The output of an LM or vision feature job that is writing its file now (its partial file exists)."""
    for partial in [
        *workdir.glob("results/lm/features/*/.*.h5.partial"),
        *workdir.glob("results/vision/*/features/.*.h5.partial"),
    ]:
        return partial.with_name(partial.name[1 : -len(".partial")])
    return None


HEADS_LOGS = {  # head-training job log -> its output
    re.compile(r"logs/lm/probes/(?P<task>[^/]+)\.log"): "results/lm/metrics/{task}.tsv",
    re.compile(
        r"logs/vision/(?P<experiment>[^/]+)/tasks/(?P<task>[^/]+)\.log"
    ): "results/vision/{experiment}/tasks/{task}.tsv",
}


def heads_job_training(workdir: Path, since: float):
    """The output of a head-training job (lm_probes or vision_heads) of this run that is training now."""
    for log in [*workdir.glob("logs/lm/probes/*.log"), *workdir.glob("logs/vision/*/tasks/*.log")]:
        try:
            if log.stat().st_mtime < since:
                continue  # a log of an earlier attempt
            text = log.read_text()
        except FileNotFoundError:
            continue
        if " heads on " in text and "done " not in text:
            relative = log.relative_to(workdir).as_posix()
            for pattern, output in HEADS_LOGS.items():
                match = pattern.fullmatch(relative)
                if match:
                    return workdir / output.format(**match.groupdict())
    return None


def kill_when(workdir: Path, log_name: str, busy) -> Path:
    """Start the run; SIGKILL its process group as soon as ``busy`` names a job's output; return that output."""
    since = time.time() - 1
    proc = start_snakemake(workdir, log_name, profile="local")
    output = None
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            output = busy(workdir, since)
            if output is not None:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None and output is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    log = (workdir / log_name).read_text()
    assert output is not None, f"the run ended before the job to kill was running:\n{tail(log)}"
    assert proc.returncode == -signal.SIGKILL
    return output


def assert_nothing_finished_looking_is_wrong(workdir: Path, reference: dict, killed_output: Path):
    """After a kill: the killed job's output is absent, and every result present is complete (equal to the
    uninterrupted run's)."""
    assert not killed_output.exists(), f"{killed_output} exists after its job was killed"
    present = runs.outputs(workdir)
    strays = sorted(set(present) - set(reference))
    assert not strays, f"files no uninterrupted run makes: {strays}"
    wrong = [path for path, digest in present.items() if digest != reference[path]]
    assert not wrong, f"results that look finished but differ from an uninterrupted run: {wrong}"
    # Snakemake redoes the jobs it had not seen finish (their outputs are marked incomplete); the rest is kept
    marked = {base64.urlsafe_b64decode(p.name).decode() for p in (workdir / ".snakemake" / "incomplete").glob("*")}
    assert killed_output.relative_to(workdir).as_posix() in marked

    def incomplete(path: str) -> bool:  # a marked output, or a file inside a marked directory output
        return path in marked or any(path.startswith(f"{output}/") for output in marked)

    return {path: (workdir / path).stat().st_mtime_ns for path in present if not incomplete(path)}


def unlock(workdir: Path):
    assert any((workdir / ".snakemake" / "locks").iterdir()), "a SIGKILLed run should leave its lock"
    snakemake(workdir, "--unlock", profile="local")


def test_killed_twice_then_rerun_gives_the_uninterrupted_results(tiny_run, tmp_path_factory):
    reference = runs.outputs(tiny_run.workdir)
    workdir = prepare_workdir(tmp_path_factory.mktemp("killed"), tiny_config())

    # 1. SIGKILL while a member's feature file is being written
    killed = kill_when(workdir, "run1.out", feature_job_writing)
    partial = killed.with_name(f".{killed.name}.partial")
    assert partial.exists()  # the half-written file sits under its hidden name only ...
    with pytest.raises(TaskspaceError, match="incomplete feature file|not a readable HDF5 file"):
        FeatureFile(partial).close()  # ... which no reader takes for a feature file
    finished_before_kill_1 = assert_nothing_finished_looking_is_wrong(workdir, reference, killed)
    # a rerun before unlocking is refused, with what to do
    refused = snakemake(workdir, profile="local", check=False)
    assert refused.returncode != 0 and "--unlock" in tail(refused)
    unlock(workdir)

    # 2. the same command again, SIGKILLed while a head-training job trains
    killed = kill_when(workdir, "run2.out", heads_job_training)
    finished_before_kill_2 = assert_nothing_finished_looking_is_wrong(workdir, reference, killed)
    unlock(workdir)

    # 3. the same command again finishes the rest
    snakemake(workdir, profile="local")
    final = runs.outputs(workdir)
    assert sorted(final) == sorted(reference)
    differ = [path for path in final if final[path] != reference[path]]
    assert not differ, f"results that differ from an uninterrupted run: {differ}"
    assert not runs.hidden_files(workdir), "partial files left behind"
    # what was finished before a kill was kept, not redone
    for finished in (finished_before_kill_1, finished_before_kill_2):
        redone = [path for path, mtime in finished.items() if (workdir / path).stat().st_mtime_ns != mtime]
        assert not redone, f"finished results redone after the kill: {redone}"
    assert len(finished_before_kill_2) > len(finished_before_kill_1) > 0
