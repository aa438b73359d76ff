"""The real workflow through `snakemake --profile profiles/slurm` on a real single-node Slurm cluster.

tests/slurm/cluster-up.sh starts the cluster (two fake GPUs, no accounting). The repository's Snakefile runs
the paper tracks of the shared tiny config of tests/conftest.py (tests/configs/tiny.yaml and given.yaml: both
tracks and a given space, offline, on the CPU; not the shared run's zoo spaces, whose jobs are the same kind of
Slurm jobs and would double this module's time); the GPU rules still ask Slurm for a GPU through
`--set-resources <rule>:gpu=1`, for exactly the rules that declare `gpu=1` when the config says
`device: cuda` (found by a dry run). The run is interrupted with SIGINT, restarted, killed with SIGKILL,
recovered as docs/cluster.md says (`scancel --name <run id>`, `--unlock`) and run to the end. The tests
check that
- every non-local job of the DAG ran to completion inside a Slurm job, exactly once, and the heavy rules
  never ran in the Snakemake process (nor the cheap `localrule`s in Slurm);
- the GPU rules, and only they, were submitted with `--gpus=1`, and Slurm gave those jobs a GPU;
- the `evaluation` group (2 vision head jobs) went out as ONE submission, the LM probe job alone;
- SIGINT cancelled the run's Slurm jobs, SIGKILL left them (and the lock), the recovery cleared both, and
  no finished job was redone after an interruption;
- the results (tables, selection, kappa, features, agents, figures) equal those of an uninterrupted local
  run (profiles/local): the session's shared tiny run, started alongside to save time, less its zoo spaces'
  files, the zoos in its results/config.yaml and the zoo sections of its summary.

Needs root (the set-up installs Debian packages and starts Slurm's daemons); skipped otherwise.
Every Snakemake run is bounded by `timeout -s INT`. The cluster's set-up, the dry run and the three runs start
in the background when the tests are collected (``SlurmSession``), beside the shared tiny run: they mostly
wait for Slurm, and the test process goes on with other tests meanwhile.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tiny_runs as runs
from conftest import (
    BACKGROUND_NICE,
    REPO,
    TRACK_CONFIGS,
    prepare_workdir,
    snakemake_command,
    snakemake_env,
    start_session,
    started_early,
    tiny_config,
)

pytestmark = pytest.mark.slurm

HERE = REPO / "tests" / "slurm"
CLUSTER_UP = HERE / "cluster-up.sh"
CLUSTER_DOWN = HERE / "cluster-down.sh"
STATE_DIR = os.environ.get("TASKSPACE_SLURM_DIR", "/tmp/taskspace-slurm")

RUN_TIMEOUT_S = 600  # SIGINT after this long (a whole run takes about 4 minutes here)

# Test-only overrides of the profile: the test node has 2 CPUs (see `cores` in the profile), poll the
# status often, keep the plugin's logs of successful jobs, and print the sbatch calls (--verbose).
TEST_CORES = str(min(2, os.cpu_count() or 1))
SLURM_TEST_ARGS = [
    "--cores",
    TEST_CORES,
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
    "--slurm-keep-successful-logs",
    "--verbose",
]

# Nothing may reach the network: the tiny config's checkpoints are local (package: and built members).
OFFLINE_ENV = snakemake_env()

# The rules that must run as Slurm jobs (everything heavy); all others are cheap `localrule`s.
REMOTE_RULES = {
    "lm_build_member",
    "lm_features",
    "lm_pass",
    "lm_convergence",
    "lm_probes",
    "kappa_member",
    "kappa",
    "vision_agent",
    "vision_features",
    "vision_peek",
    "vision_heads",
    "rank_members",
    # the zoo spaces' (not in this config; tests/test_dryrun.py checks their GPU declarations)
    "zoo_seeded_weights",
    "zoo_build_member",
    "zoo_features",
    "zoo_heads",
}
# The `evaluation` group in this config: 2 vision tasks -> one packed submission.
EVALUATION = ["vision_heads", "vision_heads"]


# ----------------------------------------------------------------------------------------------------
# running Snakemake
# ----------------------------------------------------------------------------------------------------
def snakemake_cmd(profile: str, workdir: Path, *extra: str) -> list[str]:
    """The tests' Snakemake command (tests/conftest.py) on workdir's config.yaml, bounded by `timeout`."""
    command = snakemake_command(workdir, *extra, cores=None, profile=profile)
    return ["timeout", "-s", "INT", "-k", "30", str(RUN_TIMEOUT_S), *command]


def new_workdir(tmp_path_factory, name: str) -> Path:
    return prepare_workdir(tmp_path_factory.mktemp(name), tiny_config(TRACK_CONFIGS))


def start_logged(cmd: list[str], workdir: Path, log_name: str) -> subprocess.Popen:
    """Start a command in the background, in its own session (so it can be killed as a whole), at the
    background work's priority, its output to workdir/log_name."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / log_name, "w") as out:
        return start_session(
            cmd,
            BACKGROUND_NICE,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=OFFLINE_ENV,
        )


def run_logged(cmd: list[str], workdir: Path, log_name: str) -> tuple[int, str]:
    """Run a command as ``start_logged`` does and wait; return (exit code, combined output)."""
    rc = start_logged(cmd, workdir, log_name).wait()
    return rc, (workdir / log_name).read_text()


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def interrupt(proc: subprocess.Popen) -> None:
    """SIGINT to Snakemake itself, once, as Ctrl-C in a terminal does.

    Not to `timeout`: it passes a signal on to its child AND to its whole process group, so Snakemake
    would get a second SIGINT while the Slurm plugin runs `scancel`, which aborts the cancelling.
    """
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert len(children) == 1, children
    os.kill(int(children[0]), signal.SIGINT)


def tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])


# ----------------------------------------------------------------------------------------------------
# Slurm
# ----------------------------------------------------------------------------------------------------
def run_id_of(output: str) -> str:
    m = re.search(r"SLURM run ID: (\S+)", output)
    assert m, "Snakemake did not print a SLURM run ID: was the slurm executor used?"
    return m.group(1)


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """Jobs of one run (job name = run id), finished ones included (cluster-up.sh keeps them an hour)."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--name", run_id, "--format=%i|%T|%k"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    jobs = {}
    for line in out.splitlines():
        jobid, state, comment = line.strip().split("|", 2)
        jobs[jobid] = {"state": state, "comment": comment}
    return jobs


def active_jobs(run_id: str) -> dict[str, dict[str, str]]:
    return {
        i: j for i, j in slurm_jobs(run_id).items() if j["state"] in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING")
    }


def wait_until_no_active_jobs(run_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while (left := active_jobs(run_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


# ----------------------------------------------------------------------------------------------------
# what Snakemake printed
# ----------------------------------------------------------------------------------------------------
@dataclass
class Job:
    rule: str
    local: bool  # printed as `localrule` (ran in the printing Snakemake process itself)
    group: str | None  # printed inside a `Group job <name>` block
    jobid: str = ""
    outputs: tuple[str, ...] = ()
    resources: dict[str, str] = field(default_factory=dict)
    finished: bool = False  # its `Finished jobid: <jobid> (Rule: <rule>)` line came before the next block


def _pairs(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(", ") if "=" in item)


def parse_jobs(output: str) -> tuple[list[Job], list[list[Job]]]:
    """The job blocks of a Snakemake output (a run's, a dry run's or a Slurm job's log): all jobs, and
    the group jobs as lists of their members.

    A block starts with `rule NAME:` or `localrule NAME:` and lists `output:`, `jobid:` and `resources:`;
    blocks indented under a `Group job <name>` line are that group's members. Job ids are unique in a
    run's output; in a Slurm job's log every inner Snakemake numbers its one job 0, so a
    `Finished jobid:` line counts for the latest block with that id.
    """
    jobs, groups, current, group_name = [], [], None, None
    for line in output.splitlines():
        if m := re.match(r"^\s*\[.*\] Group job (\S+) \(", line):
            group_name = m.group(1)
            groups.append([])
        elif m := re.match(r"^(\s*)(localrule|rule) (\w+):$", line):
            indented = bool(m.group(1))
            current = Job(rule=m.group(3), local=m.group(2) == "localrule", group=group_name if indented else None)
            jobs.append(current)
            if indented and groups:  # not the indented `rule` line of a failed job's error report
                groups[-1].append(current)
        elif m := re.match(r"^Finished jobid: (\S+) \(Rule: (\S+)\)$", line):
            for job in reversed(jobs):
                if job.jobid == m.group(1) and job.rule == m.group(2):
                    job.finished = True
                    break
        elif current is not None and (m := re.match(r"^\s+(output|jobid|resources): (.*)$", line)):
            key, value = m.groups()
            if key == "output":
                current.outputs = tuple(value.split(", "))
            elif key == "jobid":
                current.jobid = value.strip()
            else:
                current.resources = _pairs(value)
    return jobs, groups


def sbatch_calls(output: str) -> list[dict]:
    """Every `sbatch call:` line of a --verbose run: the rules of the jobs it carries, its GPU request."""
    calls = []
    for line in output.splitlines():
        if line.startswith("sbatch call:"):
            targets = re.search(r"--target-jobs ((?:'[^']*' ?)+)", line)
            assert targets, line
            rules = [t.split(":", 1)[0] for t in re.findall(r"'([^']*)'", targets.group(1))]
            gpus = re.search(r"--gpus=(\d+)", line)
            comment = re.search(r"--comment (\S+)", line)
            calls.append(
                {
                    "rules": rules,
                    "gpus": int(gpus.group(1)) if gpus else 0,
                    "comment": comment.group(1) if comment else "",
                    "line": line,
                }
            )
    return calls


# ----------------------------------------------------------------------------------------------------
# comparing results
# ----------------------------------------------------------------------------------------------------
# Values that record a job's wall clock (agent training time, a ranker's seconds in the ranking tables) and
# what follows from it (the hash of the agent's files, which its feature files carry as `revision`).
# Everything else must be equal exactly.
TIMING_KEYS = {"train_seconds", "seconds"}
TIMING_ATTRS = {"revision"}


def _tsv_without_timing(path: Path) -> list[list[str]]:
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMING_KEYS]
    return [[row[i] for i in keep] for row in rows]


def _h5_contents(path: Path) -> tuple[dict, dict]:
    import h5py

    arrays = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        attrs = {k: str(v) for k, v in h5.attrs.items() if k not in TIMING_ATTRS}
    return arrays, attrs


def assert_same_results(got_root: Path, want_root: Path) -> int:
    """Every result file of the Slurm run (tracks only) equals the shared run's (timings aside), and that run has
    no other files but its zoo spaces'; returns how many were compared."""

    def files(root):
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    got = files(got_root)
    want = {rel for rel in files(want_root) if not rel.startswith(runs.ZOO_RESULTS)}
    assert got == want, f"only in one run: {sorted(got ^ want)}"
    compared = 0
    for rel in sorted(want):
        a, b = got_root / rel, want_root / rel
        if rel.startswith("benchmarks/"):
            continue  # wall-clock timings of each job
        if rel == "config.yaml":
            import yaml

            assert yaml.safe_load(a.read_text()) == {
                key: value for key, value in yaml.safe_load(b.read_text()).items() if key != "zoos"
            }, rel
        elif rel == "summary.md":
            assert runs.summary_sections(a) == runs.summary_sections(b, zoos=False), rel
        elif a.suffix == ".npz":
            with np.load(a) as x, np.load(b) as y:
                assert sorted(x.files) == sorted(y.files), rel
                for key in x.files:
                    assert np.array_equal(x[key], y[key]), f"{rel}: {key} differs"
        elif a.suffix == ".h5":
            (xa, xt), (ya, yt) = _h5_contents(a), _h5_contents(b)
            assert sorted(xa) == sorted(ya) and xt == yt, rel
            for key in xa:
                assert np.array_equal(xa[key], ya[key]), f"{rel}: {key} differs"
        elif a.suffix == ".safetensors":
            from safetensors.numpy import load_file

            x, y = load_file(a), load_file(b)
            assert sorted(x) == sorted(y), rel
            for key in x:
                assert np.array_equal(x[key], y[key]), f"{rel}: {key} differs"
        elif a.suffix == ".json" and "/agents/" in rel:
            x, y = json.loads(a.read_text()), json.loads(b.read_text())
            assert {k: v for k, v in x.items() if k not in TIMING_KEYS} == {
                k: v for k, v in y.items() if k not in TIMING_KEYS
            }, rel
        elif rel.endswith("agents.tsv") or "/ranking/" in rel:
            assert _tsv_without_timing(a) == _tsv_without_timing(b), rel
        else:  # every other table, text, task file, member file and figure: byte for byte
            assert a.read_bytes() == b.read_bytes(), f"{rel} differs"
        compared += 1
    return compared


# ----------------------------------------------------------------------------------------------------
# the cluster, the plan and the interrupted run: started when the tests are collected
# ----------------------------------------------------------------------------------------------------
def why_no_cluster() -> str | None:
    """Why the test cluster cannot start here (the module is then skipped), or None."""
    if sys.platform != "linux":
        return "the Slurm test cluster needs Linux"
    if os.geteuid() != 0:
        return "the Slurm test cluster needs root (apt-get install, Slurm's daemons)"
    if shutil.which("timeout") is None:
        return "coreutils `timeout` is missing"
    have_slurm = all(
        shutil.which(p) or os.path.exists(f"/usr/sbin/{p}") for p in ("slurmctld", "slurmd", "munged", "sbatch")
    )
    if not have_slurm and shutil.which("apt-get") is None:
        return "Slurm is not installed and apt-get is not available to install it"
    return None


class Cluster:
    """The single-node test cluster: ``up()`` starts it, ``down()`` stops what ``up()`` started.

    One test session at a time uses the cluster (several pytest runs on one machine would otherwise tear it
    down under each other): an exclusive lock next to the state folder, held from ``up()`` to ``down()``.
    """

    def __init__(self):
        self.lock = None
        self.started_here = False

    def up(self) -> None:
        self.lock = open(STATE_DIR.rstrip("/") + ".lock", "w")
        deadline = time.monotonic() + 900
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test session held {self.lock.name} for 15 minutes")
                time.sleep(2)
        t0 = time.monotonic()
        up = subprocess.run(["bash", str(CLUSTER_UP), STATE_DIR], capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            pytest.fail(f"cluster-up.sh failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        print(f"\n{up.stdout}(cluster-up.sh: {time.monotonic() - t0:.1f} s)")
        self.started_here = "started " in up.stdout

    def down(self) -> None:
        # Stop the daemons when this session started them (TASKSPACE_SLURM_KEEP=1 keeps them for
        # debugging); a cluster that was already up is left as it was found.
        try:
            if self.started_here and os.environ.get("TASKSPACE_SLURM_KEEP") != "1":
                down = subprocess.run(
                    ["bash", str(CLUSTER_DOWN), STATE_DIR], capture_output=True, text=True, timeout=120
                )
                print(down.stdout, down.stderr)
        finally:
            self.started_here = False
            if self.lock is not None:
                fcntl.flock(self.lock, fcntl.LOCK_UN)
                self.lock.close()
                self.lock = None


def dry_run_plan(workdir: Path) -> dict:
    """A dry run of the config with `device: cuda` through profiles/slurm (submits nothing): the DAG's
    jobs and the rules that then declare `gpu=1`."""
    rc, out = run_logged(snakemake_cmd("slurm", workdir, "--dry-run", "--config", "device=cuda"), workdir, "dryrun.out")
    assert rc == 0, tail(out)
    jobs, groups = parse_jobs(out)
    return {
        "jobs": [job for job in jobs if job.rule != "all"],
        "groups": groups,
        "gpu_rules": {job.rule for job in jobs if job.resources.get("gpu") == "1"},
    }


@dataclass
class Attempt:
    """One Snakemake run on the cluster."""

    name: str
    output: str
    jobs: list[Job]
    groups: list[list[Job]]
    calls: list[dict]  # its sbatch calls
    run_id: str = ""
    mtimes: dict[str, int] = field(default_factory=dict)  # outputs of its finished jobs -> mtime (ns)
    rc: int | None = None
    left_active: dict = field(default_factory=dict)  # its Slurm jobs still active after the clean-up
    submitted_while_stopping: set = field(default_factory=set)  # Slurm job ids submitted after a SIGINT
    active_after_kill: dict = field(default_factory=dict)
    lock_left: bool = False

    @property
    def finished(self) -> list[Job]:
        return [job for job in self.jobs if job.finished]


def _attempt(name: str, workdir: Path, output: str) -> Attempt:
    jobs, groups = parse_jobs(output)
    attempt = Attempt(name, output, jobs, groups, sbatch_calls(output), run_id=run_id_of(output))
    for job in attempt.finished:
        for out in job.outputs:
            attempt.mtimes[out] = (workdir / out).stat().st_mtime_ns
    return attempt


def _wait_for(proc: subprocess.Popen, log: Path, condition, what: str) -> None:
    """Poll the run's output until condition(output) holds."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text()
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{tail(text)}")
        if "SLURM run ID" in text and condition(text):
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _cluster_jobs_finished(text: str) -> int:
    return sum(1 for job in parse_jobs(text)[0] if job.finished and not job.local)


def run_interrupted(workdir: Path, plan: dict) -> list[Attempt]:
    """The workflow through profiles/slurm: interrupted (SIGINT), killed (SIGKILL) and recovered
    (scancel --name <run id>, --unlock), then run to the end. Returns the three attempts."""
    # Exactly the rules that ask for a GPU under `device: cuda` ask Slurm for one here, on the CPU.
    gpu_args = ["--set-resources", *(f"{rule}:gpu=1" for rule in sorted(plan["gpu_rules"]))]
    cmd = snakemake_cmd("slurm", workdir, *SLURM_TEST_ARGS, *gpu_args)
    t0 = time.monotonic()

    # A. SIGINT once 3 cluster jobs finished while others are in Slurm
    proc = start_logged(cmd, workdir, "a-interrupted.out")
    try:
        _wait_for(
            proc,
            workdir / "a-interrupted.out",
            lambda t: _cluster_jobs_finished(t) >= 3 and active_jobs(run_id_of(t)),
            "3 cluster jobs finished with more in Slurm",
        )
        interrupt(proc)
        rc_a = proc.wait(timeout=120)
    finally:
        kill_group(proc)
    a = _attempt("A", workdir, (workdir / "a-interrupted.out").read_text())
    a.rc = rc_a
    a.left_active = wait_until_no_active_jobs(a.run_id)
    # A submission under way when SIGINT came completes after the plugin's cancel: scancel --name, as
    # docs/cluster.md says, before the next attempt.
    stopping = a.output.split("Terminating processes on user request", 1)[-1] if a.rc else ""
    a.submitted_while_stopping = set(re.findall(r"submitted with SLURM jobid (\d+)", stopping))
    if a.left_active:
        subprocess.run(["scancel", "--name", a.run_id], check=True, timeout=30)
        wait_until_no_active_jobs(a.run_id)

    # B. SIGKILL (no clean-up at all) once 2 more finished while a job waits in Slurm's queue
    proc = start_logged(cmd, workdir, "b-killed.out")
    try:
        _wait_for(
            proc,
            workdir / "b-killed.out",
            lambda t: (
                _cluster_jobs_finished(t) >= 2
                and any(j["state"] == "PENDING" for j in active_jobs(run_id_of(t)).values())
            ),
            "2 cluster jobs finished with one pending in Slurm",
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    b = _attempt("B", workdir, (workdir / "b-killed.out").read_text())
    b.active_after_kill = active_jobs(b.run_id)
    b.lock_left = any((workdir / ".snakemake" / "locks").iterdir())
    # the documented recovery: cancel the run's jobs by its run id, unlock, rerun (rerun-incomplete is set)
    subprocess.run(["scancel", "--name", b.run_id], check=True, timeout=30)
    b.left_active = wait_until_no_active_jobs(b.run_id)
    rc, out = run_logged(snakemake_cmd("slurm", workdir, "--unlock"), workdir, "b-unlock.out")
    assert rc == 0, tail(out)

    # C. to the end
    rc, out = run_logged(cmd, workdir, "c-resumed.out")
    assert rc == 0, tail(out)
    c = _attempt("C", workdir, out)
    print(f"\nSlurm runs A+B+C: {time.monotonic() - t0:.1f} s")
    return [a, b, c]


class SlurmSession:
    """In a background thread: the cluster up, the plan, the interrupted run (``run_interrupted``). It starts
    when the tests are collected, so that the cluster's set-up (a package install on a fresh machine) and the
    runs, which mostly wait for Slurm's status checks, overlap with the other tests instead of holding up the
    test process. ``wait()`` returns it finished (``plan``, ``workdir``, ``attempts``) or raises what stopped
    it, a skip included; ``stop()`` ends the runs and brings the cluster down."""

    def __init__(self, tmp_path_factory):
        self.plan_dir = new_workdir(tmp_path_factory, "plan")
        self.workdir = new_workdir(tmp_path_factory, "slurm")
        self.cluster = Cluster()
        self.plan, self.attempts, self.failure = None, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            reason = why_no_cluster()
            if reason:
                pytest.skip(reason)
            self.cluster.up()
            self.plan = dry_run_plan(self.plan_dir)
            self.attempts = run_interrupted(self.workdir, self.plan)
        except BaseException as error:  # noqa: BLE001 (pytest's skip and fail too: raised again in the tests)
            self.failure = error

    def wait(self, timeout: float = 3 * RUN_TIMEOUT_S) -> SlurmSession:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"the Slurm runs were still going after {timeout} s")
        if self.failure is not None:
            raise self.failure
        return self

    def stop(self) -> None:
        # After wait() the thread is done; in a session stopped early, bringing the cluster down ends its runs.
        self.cluster.down()


slurm_session, slurm_session_handle = started_early("slurm_session", SlurmSession, scope="session")


@pytest.fixture(scope="module")
def plan(slurm_session):
    return slurm_session.plan


@pytest.fixture(scope="module")
def slurm_run(slurm_session):
    """The workdir of the interrupted run and its three attempts."""
    return slurm_session.workdir, slurm_session.attempts


def slurm_logs(workdir: Path) -> dict[str, str]:
    """The plugin's log of every Slurm job (kept by --slurm-keep-successful-logs): Slurm job id -> text."""
    return {p.stem: p.read_text() for p in (workdir / "logs" / "slurm").rglob("*.log")}


# ----------------------------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------------------------
def test_gpu_rules_are_device_rules(plan):
    """Which rules the cluster run gives `--set-resources <rule>:gpu=1` (tests/test_dryrun.py checks the
    declarations themselves): the feature and training rules at least, and never a local rule."""
    assert {"lm_features", "vision_agent", "vision_features"} <= plan["gpu_rules"] <= REMOTE_RULES


def test_every_cluster_job_ran_in_slurm_exactly_once(slurm_run, plan):
    workdir, attempts = slurm_run
    # the heavy rules never ran in the Snakemake process, the cheap ones never in Slurm
    for attempt in attempts:
        for job in attempt.jobs:
            assert job.local == (job.rule not in REMOTE_RULES), f"run {attempt.name}: {job}"
    # Inside a Slurm job, the job step's Snakemake runs each job as a `localrule` and reports it finished.
    # Every cluster job of the DAG did so (nothing was lost). A job that was running when a run was killed
    # may finish inside Slurm unseen and run again in the next run, so the count can exceed one; outputs
    # finished before an interruption are not redone (checked with their mtimes below).
    ran = Counter()
    for text in slurm_logs(workdir).values():
        ran.update(job.outputs for job in parse_jobs(text)[0] if job.local and job.finished)
    want = Counter(job.outputs for job in plan["jobs"] if job.rule in REMOTE_RULES)
    assert sum(want.values()) == 30  # 20 feature, training, kappa and head jobs, 7 kappa member jobs, 3 ranking jobs
    assert set(ran) == set(want)
    # each run's submissions are the Slurm jobs named after its run id
    for attempt in attempts:
        submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", attempt.output)
        top_level = [job for job in attempt.jobs if not job.local and job.group is None]
        jobs = slurm_jobs(attempt.run_id)
        if attempt is attempts[-1]:  # the complete run: one submission per cluster job or group job
            assert len(submitted) == len(attempt.calls) == len(top_level) + len(attempt.groups)
            assert set(submitted) == set(jobs), f"sbatch ids vs squeue --name {attempt.run_id}"
            assert all(j["state"] == "COMPLETED" for j in jobs.values()), jobs
        else:  # a stopped run may have been stopped between printing a job and submitting it
            assert len(submitted) <= len(attempt.calls) <= len(top_level) + len(attempt.groups), attempt.name
            assert set(submitted) <= set(jobs), f"run {attempt.name}: sbatch ids vs squeue --name {attempt.run_id}"


def test_gpu_rules_were_submitted_with_gpus(slurm_run, plan):
    workdir, attempts = slurm_run
    calls = [call for attempt in attempts for call in attempt.calls]
    assert any(call["gpus"] for call in calls)
    for call in calls:
        gpu_jobs_in_call = sum(rule in plan["gpu_rules"] for rule in call["rules"])
        if len(call["rules"]) == 1:
            assert call["gpus"] == (1 if gpu_jobs_in_call else 0), call["line"]
        else:
            # A packed group asks for the GPUs of the members Snakemake places side by side in one layer
            # (as many as `cores` allows), although the job step then runs them one after another
            # (docs/cluster.md, "GPUs and packed groups").
            assert (1 <= call["gpus"] <= gpu_jobs_in_call) if gpu_jobs_in_call else call["gpus"] == 0, call["line"]
    # Slurm recorded the request of the last run's GPU jobs and gave each one a GPU (a fake one here)
    c = attempts[-1]
    gpus_of_comment = {call["comment"]: call["gpus"] for call in c.calls if call["gpus"]}
    gpu_jobs = {
        i: gpus_of_comment[j["comment"]] for i, j in slurm_jobs(c.run_id).items() if j["comment"] in gpus_of_comment
    }
    assert gpu_jobs
    for jobid, gpus in gpu_jobs.items():
        show = subprocess.run(
            ["scontrol", "show", "job", "--details", jobid], check=True, capture_output=True, text=True
        ).stdout
        assert f"TresPerJob=gres:gpu:{gpus}" in show and f"JOB_GRES=gpu:{gpus}" in show, show


def test_evaluation_group_went_out_as_one_submission(slurm_run):
    workdir, attempts = slurm_run
    evaluation_calls = [c for a in attempts for c in a.calls if set(c["rules"]) & set(EVALUATION)]
    assert evaluation_calls, "no evaluation job was submitted"
    assert all(sorted(call["rules"]) == EVALUATION for call in evaluation_calls), evaluation_calls
    # the group job that finished ran both in one Slurm job
    groups = [group for attempt in attempts for group in attempt.groups]
    assert all(job.group == "evaluation" for group in groups for job in group)
    finished = [sorted(job.rule for job in group) for group in groups if all(job.finished for job in group)]
    assert finished == [EVALUATION]
    packed = [text for text in slurm_logs(workdir).values() if "Group job evaluation" in text]
    assert any(
        sorted(job.rule for job in parse_jobs(text)[0] if job.local and job.finished) == EVALUATION for text in packed
    )


def test_interruptions_cleaned_up_and_the_rerun_redid_nothing(slurm_run):
    workdir, (a, b, c) = slurm_run
    assert a.rc != 0, "the interrupted run claims success"
    assert set(a.left_active) <= a.submitted_while_stopping, (
        f"SIGINT: the plugin should cancel the run's Slurm jobs: {a.left_active}"
    )
    assert b.active_after_kill, "after SIGKILL the run's Slurm jobs should still be there"
    assert b.lock_left, "after SIGKILL the lock should remain"
    assert not b.left_active, "scancel --name <run id> should cancel them"
    assert any(not job.local for job in a.finished) and any(not job.local for job in b.finished)
    assert "results/lm/metrics.tsv" not in a.mtimes | b.mtimes, "interrupted too late"
    # what an interrupted run finished, no later run did again, and its files were left untouched
    for earlier, later in ((a, b), (a, c), (b, c)):
        redone = {out for job in later.jobs for out in job.outputs} & set(earlier.mtimes)
        assert not redone, f"run {later.name} redid what run {earlier.name} finished: {sorted(redone)}"
    for out, mtime in (a.mtimes | b.mtimes).items():
        assert (workdir / out).stat().st_mtime_ns == mtime, out


def test_results_equal_an_uninterrupted_local_run(slurm_run, tiny_run):
    workdir, _ = slurm_run
    reference = tiny_run.results
    for table in ("vision/tiny/metrics.tsv", "lm/metrics.tsv", "lm/selection.tsv", "vision/tiny/selection.tsv"):
        assert (workdir / "results" / table).read_bytes() == (reference / table).read_bytes(), table
    for space in ("lm", "vision/tiny"):
        with np.load(workdir / "results" / space / "kappa.npz") as got, np.load(reference / space / "kappa.npz") as ref:
            assert np.array_equal(got["kappa"], ref["kappa"]) and np.array_equal(got["members"], ref["members"])
    assert assert_same_results(workdir / "results", reference) > 40
