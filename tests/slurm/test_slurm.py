"""The Slurm profile on a real single-node Slurm cluster (tests/slurm/cluster-up.sh).

Runs the small workflow in tests/slurm/workflow through `snakemake --profile profiles/slurm` and checks
that every job ran inside a Slurm job of the run, that the GPU rule was submitted with `--gpus` and got
a CUDA_VISIBLE_DEVICES, that the `evaluation` and `figures` groups were packed into single submissions,
that the outputs equal those of a local run, and that an interrupted run resumes to the same outputs.

Needs root (the set-up installs Debian packages and starts Slurm's daemons); skipped otherwise.
Every Snakemake run is bounded by `timeout -s INT`.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "slurm"
SNAKEFILE = HERE / "workflow" / "Snakefile"
CLUSTER_UP = HERE / "cluster-up.sh"
CLUSTER_DOWN = HERE / "cluster-down.sh"
STATE_DIR = os.environ.get("TASKSPACE_SLURM_DIR", "/tmp/taskspace-slurm")

N_EVAL = 4  # evaluation jobs; all fit into one packed group job (profile: evaluation: 8)
N_JOBS = N_EVAL + 4  # + prepare, gpu_features, aggregate, plot (the target rule `all` runs nothing)
RUN_TIMEOUT_S = 240  # SIGINT after this long: a hung run fails the test instead of the CI job

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
CONFIG_ARGS = ["--config", f"n_eval={N_EVAL}", "eval_sleep=1"]


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------
def snakemake_cmd(profile: str, *extra: str, timeout_s: int = RUN_TIMEOUT_S) -> list[str]:
    return [
        "timeout",
        "-s",
        "INT",
        "-k",
        "30",
        str(timeout_s),
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--profile",
        str(REPO / "profiles" / profile),
        *CONFIG_ARGS,
        *extra,
    ]


def run_snakemake(workdir: Path, profile: str, *extra: str, log_name: str = "snakemake.out"):
    """Run Snakemake in `workdir`; return (exit code, combined output)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / log_name
    with open(log, "w") as out:
        rc = subprocess.run(
            snakemake_cmd(profile, *extra),
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        ).returncode
    return rc, log.read_text()


def run_id_of(output: str) -> str:
    m = re.search(r"SLURM run ID: (\S+)", output)
    assert m, "Snakemake did not print a SLURM run ID: was the slurm executor used?"
    return m.group(1)


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """Jobs of one run (job name = run id), finished ones included (kept for MinJobAge = 300 s)."""
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


def where_jobs_ran(workdir: Path) -> dict[str, dict[str, str]]:
    """Each rule's log (relative path) -> the SLURM_JOB_ID / CUDA_VISIBLE_DEVICES lines it recorded."""
    ran = {}
    for log in sorted((workdir / "logs").rglob("*.log")):
        if "slurm" in log.relative_to(workdir / "logs").parts:
            continue
        ran[str(log.relative_to(workdir))] = dict(
            line.split("=", 1) for line in log.read_text().splitlines() if "=" in line
        )
    return ran


def outputs(workdir: Path) -> dict[str, bytes]:
    """Every result file except gpu_env.txt (which records the GPU a job was given)."""
    root = workdir / "results"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "gpu_env.txt"
    }


def tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])


# ----------------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def slurm_cluster():
    """Start the single-node test cluster; stop what this fixture started at the end."""
    if sys.platform != "linux":
        pytest.skip("the Slurm test cluster needs Linux")
    if os.geteuid() != 0:
        pytest.skip("the Slurm test cluster needs root (apt-get install, Slurm's daemons)")
    if shutil.which("timeout") is None:
        pytest.skip("coreutils `timeout` is missing")
    have_slurm = all(
        shutil.which(p) or os.path.exists(f"/usr/sbin/{p}")
        for p in ("slurmctld", "slurmd", "munged", "sbatch")
    )
    if not have_slurm and shutil.which("apt-get") is None:
        pytest.skip("Slurm is not installed and apt-get is not available to install it")
    # One test session at a time uses the cluster (several pytest runs on one machine would otherwise
    # tear it down under each other): an exclusive lock next to the state folder, held until the end.
    lock = open(STATE_DIR.rstrip("/") + ".lock", "w")
    deadline = time.monotonic() + 900
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail(f"another test session held {lock.name} for 15 minutes")
            time.sleep(2)
    try:
        t0 = time.monotonic()
        up = subprocess.run(["bash", str(CLUSTER_UP), STATE_DIR], capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            pytest.fail(f"cluster-up.sh failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        print(f"\n{up.stdout}(cluster-up.sh: {time.monotonic() - t0:.1f} s)")
        started_here = "started " in up.stdout
        yield STATE_DIR
        # Stop the daemons when this session started them (TASKSPACE_SLURM_KEEP=1 keeps them for
        # debugging); a cluster that was already up is left as it was found.
        if started_here and os.environ.get("TASKSPACE_SLURM_KEEP") != "1":
            down = subprocess.run(
                ["bash", str(CLUSTER_DOWN), STATE_DIR], capture_output=True, text=True, timeout=120
            )
            print(down.stdout, down.stderr)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The same workflow on this machine (profiles/local, 2 cores): the reference outputs."""
    workdir = tmp_path_factory.mktemp("local")
    rc, out = run_snakemake(workdir, "local", "--cores", TEST_CORES)
    assert rc == 0, tail(out)
    return workdir


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    """One uninterrupted run through profiles/slurm; returns (workdir, run id, output)."""
    workdir = tmp_path_factory.mktemp("slurm")
    t0 = time.monotonic()
    rc, out = run_snakemake(workdir, "slurm", *SLURM_TEST_ARGS)
    print(f"\nSlurm run: {time.monotonic() - t0:.1f} s")
    assert rc == 0, tail(out)
    return workdir, run_id_of(out), out


# ----------------------------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------------------------
def test_every_job_ran_inside_a_slurm_job_of_the_run(slurm_run):
    workdir, run_id, _ = slurm_run
    jobs = slurm_jobs(run_id)
    assert jobs, f"squeue knows no job named {run_id}"
    assert all(j["state"] == "COMPLETED" for j in jobs.values()), jobs
    ran = where_jobs_ran(workdir)
    assert len(ran) == N_JOBS, sorted(ran)
    for log, env in ran.items():
        assert (
            env.get("SLURM_JOB_ID") in jobs
        ), f"{log}: ran in Slurm job {env.get('SLURM_JOB_ID')}, not one of run {run_id}: {sorted(jobs)}"


def test_gpu_rule_was_submitted_with_gpus(slurm_run):
    workdir, run_id, out = slurm_run
    calls = [line for line in out.splitlines() if line.startswith("sbatch call:")]
    gpu_calls = [c for c in calls if "--comment rule_gpu_features" in c]
    assert len(gpu_calls) == 1, calls
    assert "--gpus=1" in gpu_calls[0] and "--cpus-per-gpu=1" in gpu_calls[0]
    assert not any("--gpus" in c for c in calls if c not in gpu_calls), "only the GPU rule asks for GPUs"
    # Slurm recorded the request, and the job saw the GPU it was given
    jobid = where_jobs_ran(workdir)["logs/gpu_features.log"]["SLURM_JOB_ID"]
    show = subprocess.run(
        ["scontrol", "show", "job", jobid], check=True, capture_output=True, text=True
    ).stdout
    assert "TresPerJob=gres:gpu:1" in show, show
    env = (workdir / "results" / "gpu_env.txt").read_text().strip()
    assert re.fullmatch(r"CUDA_VISIBLE_DEVICES=\d+", env), env


def test_groups_packed_small_jobs(slurm_run):
    workdir, run_id, _ = slurm_run
    jobs = slurm_jobs(run_id)
    ran = where_jobs_ran(workdir)
    assert len(jobs) < len(ran), f"{len(jobs)} submissions for {len(ran)} jobs: nothing was packed"
    eval_ids = {env["SLURM_JOB_ID"] for log, env in ran.items() if log.startswith("logs/evaluate/")}
    assert len(eval_ids) == 1, f"{N_EVAL} evaluation jobs went into {len(eval_ids)} submissions"
    figure_ids = {ran["logs/aggregate.log"]["SLURM_JOB_ID"], ran["logs/plot.log"]["SLURM_JOB_ID"]}
    assert len(figure_ids) == 1, figure_ids
    assert jobs[eval_ids.pop()]["comment"].startswith("rule_evaluation")
    assert jobs[figure_ids.pop()]["comment"].startswith("rule_figures")
    assert len(jobs) == 4  # prepare, gpu_features, one evaluation group, one figures group


def test_outputs_equal_a_local_run(slurm_run, local_run):
    workdir, _, _ = slurm_run
    got, want = outputs(workdir), outputs(local_run)
    assert set(got) == set(want)
    assert got == want
    assert all(env["SLURM_JOB_ID"] == "none" for env in where_jobs_ran(local_run).values())


def start_run(workdir: Path, log_name: str) -> subprocess.Popen:
    """Start a Slurm run in the background, in its own session (so it can be killed as a whole)."""
    out = open(workdir / log_name, "w")
    return subprocess.Popen(
        snakemake_cmd("slurm", *SLURM_TEST_ARGS),
        cwd=workdir,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_evaluation_submitted(proc: subprocess.Popen, log: Path) -> str:
    """Wait until the run has put its evaluation group into Slurm; return the run id."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    pattern = re.compile(r"submitted with SLURM jobid \d+ \(log: \S*group_evaluation")
    while time.monotonic() < deadline and proc.poll() is None:
        if pattern.search(log.read_text()):
            return run_id_of(log.read_text())
        time.sleep(0.2)
    pytest.fail("the run ended before the evaluation group was submitted:\n" + tail(log.read_text()))


def active_jobs(run_id: str) -> dict[str, dict[str, str]]:
    return {
        i: j
        for i, j in slurm_jobs(run_id).items()
        if j["state"] in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING")
    }


def test_interrupted_and_killed_runs_resume_to_the_same_outputs(slurm_cluster, slurm_run, tmp_path_factory):
    """SIGINT mid-way, rerun; SIGKILL mid-way, recover (scancel --name, --unlock), rerun: same outputs."""
    reference = outputs(slurm_run[0])
    workdir = tmp_path_factory.mktemp("resume")

    # 1. SIGINT after prepare and gpu_features finished, while the evaluation group is in Slurm
    proc = start_run(workdir, "interrupted.out")
    try:
        run_a = wait_for_evaluation_submitted(proc, workdir / "interrupted.out")
        time.sleep(1)
        proc.send_signal(signal.SIGINT)  # `timeout` passes it on to Snakemake
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc != 0, "the interrupted run claims success"
    assert (workdir / "results/features.txt").exists()
    assert not (workdir / "results/summary.tsv").exists(), "interrupted too late: the run was complete"
    time.sleep(1)
    assert not active_jobs(run_a), "SIGINT: the plugin should cancel the run's Slurm jobs"

    # 2. SIGKILL (no clean-up at all) while the evaluation group is in Slurm again
    proc = start_run(workdir, "killed.out")
    try:
        run_b = wait_for_evaluation_submitted(proc, workdir / "killed.out")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert active_jobs(run_b), "after SIGKILL the Slurm job should still be there"
    assert any((workdir / ".snakemake" / "locks").iterdir()), "after SIGKILL the lock should remain"
    # the documented recovery: cancel the run's jobs by its run id, unlock, rerun
    subprocess.run(["scancel", "--name", run_b], check=True, timeout=30)
    rc, out = run_snakemake(workdir, "slurm", "--unlock", log_name="unlock.out")
    assert rc == 0, tail(out)
    time.sleep(1)
    assert not active_jobs(run_b)

    # 3. the rerun (the profile sets rerun-incomplete) finishes only what was missing
    rc, out = run_snakemake(workdir, "slurm", *SLURM_TEST_ARGS, log_name="resumed.out")
    assert rc == 0, tail(out)
    resumed = slurm_jobs(run_id_of(out))
    assert not any(
        j["comment"].startswith(("rule_prepare", "rule_gpu_features")) for j in resumed.values()
    ), f"the resumed run redid finished jobs: {resumed}"
    assert outputs(workdir) == reference
