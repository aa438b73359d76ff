"""The shared tiny config, SIGKILLed twice and resumed: the session's second run of that config (issue 6).

One run of the shared tiny config (tests/conftest.py) in a folder of its own is SIGKILLed twice, with
Snakemake and its running job (the whole process group, as a crashed node or an out-of-memory kill would):
first in the middle of an LM or vision feature extraction (while the member's feature file is being
written), then, after the documented recovery, in the middle of a head-training job. The documented recovery
(docs/troubleshooting.md) is ``snakemake --unlock`` and the same command again (profiles/local sets
``rerun-incomplete``); a third run finishes. Every run is that command: ``snakemake --profile profiles/local``
with the config, on 2 cores, offline.

It starts when the tests are collected, beside the shared run (conftest's ``tiny_run_resumed``), and keeps
what it saw right after each kill (:class:`Kill`), since later runs change the folder. test_resume.py checks
those observations against the shared run; test_determinism.py compares the finished folder with the shared
run as the config's second run.

Not a test module: conftest.py imports it when the fixture starts.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import tiny_runs as runs
from conftest import RUN_TIMEOUT_S, prepare_workdir, snakemake, start_snakemake, tail, tiny_config

POLL_S = 0.01
HEADS_LOGS = {  # head-training job log -> its output
    re.compile(r"logs/lm/probes/(?P<task>[^/]+)\.log"): "results/lm/metrics/{task}.tsv",
    re.compile(
        r"logs/vision/(?P<experiment>[^/]+)/tasks/(?P<task>[^/]+)\.log"
    ): "results/vision/{experiment}/tasks/{task}.tsv",
}


def feature_job_writing(workdir: Path, since: float):
    """The output of an LM or vision feature job that is writing its file now (its partial file exists)."""
    for partial in [
        *workdir.glob("results/lm/features/*/.*.h5.partial"),
        *workdir.glob("results/vision/*/features/.*.h5.partial"),
    ]:
        return partial.with_name(partial.name[1 : -len(".partial")])
    return None


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


@dataclass
class Kill:
    """What one SIGKILLed run left, seen right after the kill."""

    log: str  # the run's output
    returncode: int | None
    killed: Path | None  # the output of the job that was busy when the run was killed (None: never busy)
    partial_exists: bool = False  # the killed feature job's hidden partial file
    partial_error: str = ""  # what reading that partial file as a feature file said
    present: dict = field(default_factory=dict)  # result file -> fingerprint
    marked: set = field(default_factory=set)  # outputs Snakemake marked incomplete
    mtimes: dict = field(default_factory=dict)  # result file -> mtime, for the files not marked
    lock_left: bool = False

    def incomplete(self, path: str) -> bool:
        """A marked output, or a file inside a marked directory output (a member build, a zoo pass)."""
        return path in self.marked or any(path.startswith(f"{output}/") for output in self.marked)


class ResumedRun:
    """The procedure of the module docstring in a background thread. ``wait()`` returns it when done:
    ``kills`` (two :class:`Kill`), ``refused`` (the rerun before unlocking), ``final`` (the last run), or
    ``error`` when a step could not be taken."""

    def __init__(self, workdir: Path):
        self.workdir = prepare_workdir(workdir, tiny_config())
        self.kills: list[Kill] = []
        self.refused = self.final = None
        self.error = ""
        self.proc = None
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if not self._kill_when("run1.out", feature_job_writing):
                return
            self.refused = snakemake(self.workdir, profile="local", check=False)
            self._unlock()
            if not self._kill_when("run2.out", heads_job_training):
                return
            self._unlock()
            self.final = snakemake(self.workdir, profile="local", check=False)
        except (AssertionError, OSError, subprocess.SubprocessError) as error:  # for the tests that read this run
            self.error = f"{type(error).__name__}: {error}"

    def _kill_when(self, log_name: str, busy) -> bool:
        """Start the run; SIGKILL its process group as soon as ``busy`` names a job's output; record a Kill."""
        since = time.time() - 1
        self.proc = start_snakemake(self.workdir, log_name, profile="local")
        output = None
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while self.proc.poll() is None and time.monotonic() < deadline and not self.stopped:
                output = busy(self.workdir, since)
                if output is not None:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    break
                time.sleep(POLL_S)
        finally:
            if self.proc.poll() is None and output is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)
        kill = Kill(log=(self.workdir / log_name).read_text(), returncode=self.proc.returncode, killed=output)
        self.kills.append(kill)
        if output is None:
            self.error = f"{log_name}: the run ended before the job to kill was running:\n{tail(kill.log)}"
            return False
        partial = output.with_name(f".{output.name}.partial")
        kill.partial_exists = partial.exists()
        if kill.partial_exists:
            from taskspace.errors import TaskspaceError
            from taskspace.features import FeatureFile

            try:
                FeatureFile(partial).close()
            except TaskspaceError as error:
                kill.partial_error = str(error)
        kill.present = runs.outputs(self.workdir)
        kill.marked = {
            base64.urlsafe_b64decode(p.name).decode() for p in (self.workdir / ".snakemake" / "incomplete").glob("*")
        }
        kill.mtimes = {
            path: (self.workdir / path).stat().st_mtime_ns for path in kill.present if not kill.incomplete(path)
        }
        kill.lock_left = any((self.workdir / ".snakemake" / "locks").iterdir())
        return True

    def _unlock(self) -> None:
        snakemake(self.workdir, "--unlock", profile="local")

    def wait(self, timeout: float = 3 * RUN_TIMEOUT_S) -> ResumedRun:
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.stop()
            raise AssertionError(f"the killed-and-resumed run was still going after {timeout} s")
        return self

    def stop(self) -> None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.thread.join(60)


def completed(result: subprocess.CompletedProcess | None) -> str:
    """A run's exit and output tail, for assertion messages."""
    return "did not run" if result is None else f"exit {result.returncode}\n{tail(result)}"
