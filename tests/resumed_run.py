"""The shared tiny run's zoo spaces, SIGKILLed twice and resumed: the session's second run of them (issue 6).

One run of the zoo spaces of the shared tiny config (tests/conftest.py, ``zoo_spaces_config``: every member
kind and data format) in a folder of its own is SIGKILLed twice, with Snakemake and its running job (the whole
process group, as a crashed node or an out-of-memory kill would): first in the middle of a feature pass (while
a member's feature file in the pass folder is being written), then, after the documented recovery, in the
middle of a head-training job. The documented recovery (docs/troubleshooting.md) is ``snakemake --unlock`` and
the same command again (profiles/local sets ``rerun-incomplete``); a third run finishes. Every run is that
command: ``snakemake --profile profiles/local`` with the config, on 2 cores, offline.

The zoo spaces, not the paper tracks: they have every kind of job the tracks have (feature files written
through the same writer, kappa, rankers, heads, figures) plus directory outputs, and the tracks get their
second run, interrupted too, in the Slurm test (tests/slurm/), which compares it with the shared run file by
file. One full second run of the shared config would cost the test session minutes on 2 cores.

It starts when the tests are collected, beside the shared run (conftest's ``tiny_run_resumed``), and keeps
what it saw right after each kill (:class:`Kill`), since later runs change the folder. test_resume.py checks
those observations against the shared run; test_determinism.py compares the finished folder with the shared
run's zoo spaces.

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
from conftest import (
    BACKGROUND_NICE,
    RUN_TIMEOUT_S,
    prepare_workdir,
    snakemake,
    start_snakemake,
    tail,
    zoo_spaces_config,
)

POLL_S = 0.01
HEADS_LOG = re.compile(r"logs/zoo/(?P<zoo>[^/]+)/tasks/(?P<task>[^/]+)\.log")  # a zoo_heads job's log
HEADS_OUTPUT = "results/zoo/{zoo}/tasks/{task}.tsv"  # and its output


def feature_job_writing(workdir: Path, since: float):
    """The output (a pass folder) of a zoo feature job that is writing a member's file now (its partial file
    exists), once another pass has finished a file (so that the kill has finished results to keep)."""
    if not any(workdir.glob("results/zoo/*/features/*/*/*.h5")):
        return None
    for partial in workdir.glob("results/zoo/*/features/*/*/.*.h5.partial"):
        return partial.parent
    return None


def heads_job_training(workdir: Path, since: float):
    """The output of a head-training job (zoo_heads) of this run that is training now."""
    for log in workdir.glob("logs/zoo/*/tasks/*.log"):
        try:
            if log.stat().st_mtime < since:
                continue  # a log of an earlier attempt
            text = log.read_text()
        except FileNotFoundError:
            continue
        if " heads on " in text and "done " not in text:
            match = HEADS_LOG.fullmatch(log.relative_to(workdir).as_posix())
            if match:
                return workdir / HEADS_OUTPUT.format(**match.groupdict())
    return None


def partial_files(output: Path) -> list[Path]:
    """The hidden partial files a killed job left of its output (inside it, for a folder output)."""
    if output.is_dir():
        return sorted(output.glob(".*.partial"))
    partial = output.with_name(f".{output.name}.partial")
    return [partial] if partial.exists() else []


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
        self.workdir = prepare_workdir(workdir, zoo_spaces_config())
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
            self.refused = snakemake(self.workdir, profile="local", check=False, nice=BACKGROUND_NICE)
            self._unlock()
            if not self._kill_when("run2.out", heads_job_training):
                return
            self._unlock()
            self.final = snakemake(self.workdir, profile="local", check=False, nice=BACKGROUND_NICE)
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
        partials = partial_files(output)
        kill.partial_exists = bool(partials)
        if partials:
            from taskspace.errors import TaskspaceError
            from taskspace.features import FeatureFile

            try:
                FeatureFile(partials[0]).close()
            except TaskspaceError as error:
                kill.partial_error = str(error)
        kill.present = runs.outputs(self.workdir, zoos_only=True)
        kill.marked = {
            base64.urlsafe_b64decode(p.name).decode() for p in (self.workdir / ".snakemake" / "incomplete").glob("*")
        }
        kill.mtimes = {
            path: (self.workdir / path).stat().st_mtime_ns for path in kill.present if not kill.incomplete(path)
        }
        kill.lock_left = any((self.workdir / ".snakemake" / "locks").iterdir())
        return True

    def _unlock(self) -> None:
        snakemake(self.workdir, "--unlock", profile="local", nice=BACKGROUND_NICE)

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
