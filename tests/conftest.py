"""What the tests share: the checkout (REPO), the tiny configs (tests/configs/), the one way a test runs
Snakemake (``snakemake()``), and the shared tiny workflow run (fixture ``tiny_run``).

Test modules import plain names from here (``from conftest import REPO, snakemake``: pytest's pythonpath
has tests/) and get the fixtures by name. This file, not a helper module, is the home of the Snakemake
helper because pytest loads it for every test folder (tests/lm, tests/slurm, ...) and the session fixture
that runs the shared tiny run must live in a conftest.py anyway.

Running Snakemake::

    snakemake(workdir, "--dry-run", config="config.yaml", cores=2, profile=None, env=None, check=True)

builds ``python -m snakemake --snakefile REPO/Snakefile --directory WORKDIR [--profile REPO/profiles/P]
[--configfile ...] [--cores N] ARGS...``, runs it in WORKDIR offline (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE,
TOKENIZERS_PARALLELISM=false) under a timeout and returns the CompletedProcess (``check`` asserts exit 0,
with the output's tail as the message). ``start_snakemake`` runs the same command in the background.

The shared tiny run: tests/configs/tiny.yaml (vision digits and LM, every stage) plus tests/configs/given.yaml
(the paper's published kappa as a given space) and tests/configs/zoo.yaml (tiny zoo spaces of every member kind
and data format, on tests/data/zoo/ linked in as zoo-data/), run ONCE per test session through profiles/local
on 2 cores, in the background from the moment the tests are collected (as is the session's second run of its
zoo spaces, ``tiny_run_resumed``, which tests/resumed_run.py SIGKILLs twice and resumes: the resume and
determinism tests read it; the paper tracks' second run is the Slurm test's). Tests that only read its outputs
take the ``tiny_run`` fixture; one assertion about it is one line::

    def test_ranking_table(tiny_run):
        assert list(tiny_run.tsv("lm/ranking/bigram-shift.tsv").columns) == [...]

Tests that change a finished run work on a copy (``copy_run`` / fixture ``tiny_run_copy``): results, logs
and .snakemake/ metadata with their mtimes, so Snakemake finds nothing to do in it until the test changes
something.

While writing such assertions, ``TASKSPACE_TINY_RUN=/some/folder pytest tests/test_lm_workflow.py`` keeps the
shared run in that folder between sessions and only brings it up to date (see ``_start_tiny_run``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
CONFIGS = REPO / "tests" / "configs"
# The paper's published kappa: resources/ of the checkout; the paper's expected picks (expected_mmi.txt,
# mmi_top5.txt) only in shared/reference beside the checkout (the developers' and CI's machines).
PAPER_KAPPA = REPO / "resources" / "paper-lm-kappa"
REFERENCE = REPO.parent / "shared" / "reference" / "paper-lm-kappa"

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
RUN_TIMEOUT_S = 900
TRACK_CONFIGS = ("tiny.yaml", "given.yaml")  # the paper tracks and a given space (the Slurm test's config)
TINY_CONFIGS = (*TRACK_CONFIGS, "zoo.yaml")  # the shared tiny run's config, merged in this order
TRACK_KEYS = ("vision", "lm", "given")  # the config keys of the paper tracks and given spaces
# The tiny zoos' data (tests/configs/zoo.yaml), linked into every work folder as zoo-data/.
ZOO_DATA = REPO / "tests" / "data" / "zoo"


# ---------------------------------------------------------------------------------------------------------
# configs and work folders


def load_config(name: str) -> dict:
    """tests/configs/<name> (``.yaml`` may be left out), a fresh dict each call: change keys at will."""
    path = CONFIGS / (name if name.endswith(".yaml") else f"{name}.yaml")
    return yaml.safe_load(path.read_text())


def tiny_config(names=TINY_CONFIGS) -> dict:
    """The shared tiny run's config: tests/configs/tiny.yaml with the given space of given.yaml and the zoo
    spaces of zoo.yaml (or the configs ``names``, merged in order)."""
    config = {}
    for name in names:
        for key, value in load_config(name).items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
    return config


def zoo_spaces_config() -> dict:
    """The shared tiny run's zoo spaces alone (with its seed, device and figure formats)."""
    return {key: value for key, value in tiny_config().items() if key not in TRACK_KEYS}


def prepare_workdir(workdir: Path, config: dict | Path | None = None) -> Path:
    """A work folder with resources/ and the tiny zoos' data (zoo-data/) of the checkout linked in (configs
    name files relative to the work folder, as the demo does) and, when given, ``config`` as its config.yaml (a
    dict or a file to copy)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "resources").exists():
        (workdir / "resources").symlink_to(REPO / "resources")
    if not (workdir / "zoo-data").exists():
        (workdir / "zoo-data").symlink_to(ZOO_DATA)
    if isinstance(config, dict):
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    elif config is not None:
        shutil.copy(config, workdir / "config.yaml")
    return workdir


# ---------------------------------------------------------------------------------------------------------
# running Snakemake


# CPU priorities of the work started early (``started_early``). The tests that run meanwhile are one process: at
# the priority of the background runs it would get the share of one run, and once they were done it would run
# the rest of the tests alone, one core idle. So background work yields to it (any user may lower a priority);
# the shared tiny run, which most of the waiting tests wait for, goes ahead of all (``TinyRun.PRIORITY``).
BACKGROUND_NICE = 10


def niced(command: list[str], nice: int) -> list[str]:
    """``command`` run at CPU priority ``nice`` (``nice -n``; below 0: root only)."""
    return ["nice", "-n", str(nice), *command] if nice else list(command)


def start_session(command: list[str], nice: int, **popen) -> subprocess.Popen:
    """Start ``command`` in a session of its own (so that os.killpg(proc.pid, ...) reaches all it starts) at CPU
    priority ``nice``; ``popen``: Popen's other arguments.

    With Linux's autogroup scheduling (kernel.sched_autogroup_enabled) the CPU is shared between sessions first
    and a process's own nice counts only within its session: the session's priority is its autogroup's nice
    (sched(7)). Popen returns after the child's setsid, so this sets the new session's."""
    proc = subprocess.Popen(niced(command, nice), start_new_session=True, **popen)
    if nice:
        try:
            Path(f"/proc/{proc.pid}/autogroup").write_text(str(nice))
        except OSError:  # a kernel without autogroups: the process's nice is the priority
            pass
    return proc


def snakemake_command(
    workdir: Path, *args: str, config="config.yaml", cores: int | str | None = 2, profile: str | None = None
) -> list[str]:
    """The command line: ``config`` is a file (relative to workdir), a list of files, or None (the Snakefile's
    default, config.yaml); ``cores`` None leaves --cores out (dry runs); ``profile`` names profiles/<profile>."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir)]
    if profile is not None:
        command += ["--profile", str(REPO / "profiles" / profile)]
    if config is not None:
        files = config if isinstance(config, list | tuple) else [config]
        command += ["--configfile", *(str(Path(workdir) / file) for file in files)]
    if cores is not None:
        command += ["--cores", str(cores)]
    return [*command, *map(str, args)]


def snakemake_env(env: dict | None = None) -> dict:
    """os.environ, offline (no hub, no tokenizer threads), plus ``env``."""
    return {**os.environ, **OFFLINE, **(env or {})}


def snakemake(
    workdir: Path,
    *args: str,
    config: str | Path | list | dict | None = "config.yaml",
    cores: int | str | None = 2,
    profile: str | None = None,
    env: dict | None = None,
    timeout: float = RUN_TIMEOUT_S,
    check: bool = True,
    nice: int = 0,
) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's Snakefile in ``workdir`` and return the CompletedProcess.

    ``config``: a dict is written to workdir/config.yaml first; otherwise as in ``snakemake_command``.
    ``check``: assert that it exited 0 (the message is the output's tail); pass False to look at a failure.
    ``nice``: its CPU priority (BACKGROUND_NICE for a run in a background thread).
    """
    if isinstance(config, dict):
        prepare_workdir(Path(workdir), config)
        config = "config.yaml"
    command = niced(snakemake_command(workdir, *args, config=config, cores=cores, profile=profile), nice)
    result = subprocess.run(
        command, cwd=workdir, env=snakemake_env(env), capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert result.returncode == 0, tail(result)
    return result


def start_snakemake(
    workdir: Path,
    log_name: str,
    *args: str,
    config="config.yaml",
    cores: int | str | None = 2,
    profile: str | None = None,
    nice: int = BACKGROUND_NICE,
) -> subprocess.Popen:
    """The same command in the background, output to workdir/log_name, in a session of its own (so that
    os.killpg(proc.pid, ...) reaches Snakemake and its jobs), at CPU priority ``nice``."""
    command = snakemake_command(workdir, *args, config=config, cores=cores, profile=profile)
    with open(Path(workdir) / log_name, "w") as log:
        return start_session(
            command,
            nice,
            cwd=workdir,
            env=snakemake_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def tail(result, chars: int = 4000) -> str:
    """The end of a run's output (a CompletedProcess or text), for assertion messages."""
    if isinstance(result, str):
        return result[-chars:]
    return (result.stdout or "")[-chars:] + (result.stderr or "")[-chars:]


# ---------------------------------------------------------------------------------------------------------
# the shared tiny run


@dataclass(frozen=True)
class Run:
    """A finished workflow run: ``run / "lm/metrics.tsv"`` is a path under its results/."""

    workdir: Path

    @property
    def results(self) -> Path:
        return self.workdir / "results"

    def __truediv__(self, relative: str) -> Path:
        return self.results / relative

    def tsv(self, relative: str):
        """results/<relative> as a DataFrame."""
        import pandas as pd

        return pd.read_csv(self / relative, sep="\t")

    def text(self, relative: str) -> str:
        return (self / relative).read_text()

    def log(self, relative: str) -> str:
        """logs/<relative> of the run."""
        return (self.workdir / "logs" / relative).read_text()


class Background:
    """A Snakemake run in the background (``start_snakemake``, output to workdir/snakemake.out): ``wait()``
    returns its CompletedProcess (stdout: that output), asserting exit 0 unless ``check`` is False."""

    def __init__(self, workdir: Path, *args: str, check: bool = True, **options):
        self.workdir, self.log, self.check = workdir, workdir / "snakemake.out", check
        self.proc = start_snakemake(workdir, self.log.name, *args, **options)

    def wait(self, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
        try:
            returncode = self.proc.wait(timeout=timeout)
        finally:
            self.stop()
        result = subprocess.CompletedProcess(self.proc.args, returncode, self.log.read_text(), "")
        if self.check:
            assert returncode == 0, tail(result)
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)


class TinyRun(Background):
    """An uninterrupted run of the shared tiny config in ``workdir``, in the background: the command the README
    and docs/troubleshooting.md give users (profiles/local, which sets rerun-incomplete), on 2 cores, offline.
    ``wait()`` returns the Run once it succeeded.

    As root it runs ahead of the session's other work (``PRIORITY``, ``ahead()``): most of the tests that wait
    for early work wait for it alone, and they run first (``pytest_collection_modifyitems``), beside the rest of
    that work, not after it on one core."""

    PRIORITY = -20  # nice (as root; else 0, the test process's, still above BACKGROUND_NICE)

    def __init__(self, workdir: Path):
        super().__init__(
            prepare_workdir(workdir, tiny_config()), profile="local", nice=self.PRIORITY if self.ahead() else 0
        )

    @staticmethod
    def ahead() -> bool:
        """Whether the run gets a higher CPU priority than the test process (only root may raise one)."""
        return os.geteuid() == 0

    def wait(self, timeout: float = RUN_TIMEOUT_S) -> Run:
        super().wait(timeout)
        return Run(self.workdir)


class Commands:
    """Shell commands run one after another in ``cwd`` in the background, each in a session of its own; the
    first that fails ends the sequence. ``wait()`` returns [(command, CompletedProcess)] of those that ran."""

    def __init__(self, commands: list[str], cwd: Path, env: dict | None = None, nice: int = BACKGROUND_NICE):
        self.commands, self.cwd, self.env, self.nice = list(commands), cwd, snakemake_env(env), nice
        self.results, self.proc, self.stopped = [], None, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for command in self.commands:
            if self.stopped:
                return
            self.proc = start_session(
                ["bash", "-c", command],
                self.nice,
                cwd=self.cwd,
                env=self.env,
                text=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            stdout, stderr = self.proc.communicate()
            self.results.append((command, subprocess.CompletedProcess(command, self.proc.returncode, stdout, stderr)))
            if self.proc.returncode != 0:
                return

    def wait(self, timeout: float = RUN_TIMEOUT_S) -> list[tuple[str, subprocess.CompletedProcess]]:
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.stop()
            raise AssertionError(f"still running after {timeout} s: {self.commands[len(self.results)]}")
        return self.results

    def stop(self) -> None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.thread.join(60)


def copy_run(run: Run, workdir: Path) -> Run:
    """A copy of a finished run in ``workdir`` (which must not exist): every file with its mtime, Snakemake's
    metadata included, so that the copy is as finished as the original."""
    shutil.copytree(run.workdir, workdir, symlinks=True)
    return Run(workdir)


# ---------------------------------------------------------------------------------------------------------
# work that starts when the tests are collected


_begun: list = []  # the handles that pytest_collection_finish started (stopped when the session ends)


def started_early(name: str, start, scope: str = "module"):
    """Two fixtures, ``name`` and ``name_handle``, for work that ``start(tmp_path_factory)`` starts and returns a
    handle of (``wait()`` and ``stop()``, as Background): ``name`` is ``handle.wait()``, and the work starts as
    soon as the tests are collected when a collected test uses either fixture. It then runs in the background
    beside the tests before it (the unit tests use one core: pytest is one process and the torch tests use one
    thread), beside other such work and beside the Slurm test's runs (which mostly wait for status checks).
    Bind both in a module: ``x, x_handle = started_early("x", start_x)``."""
    handles = []

    def begin(tmp_path_factory):
        if not handles:
            handles.append(start(tmp_path_factory))
        return handles[0]

    def handle_fixture(tmp_path_factory):
        handle = begin(tmp_path_factory)
        yield handle
        handle.stop()

    def value_fixture(request):
        return request.getfixturevalue(f"{name}_handle").wait()

    begin.work = name
    handle_fixture.begin = value_fixture.begin = begin
    value_fixture.__doc__ = start.__doc__
    value = pytest.fixture(scope=scope, name=name)(value_fixture)
    return value, pytest.fixture(scope=scope, name=f"{name}_handle")(handle_fixture)


def _begins(item) -> list:
    """The ``begin`` functions of the started-early fixtures a test uses (its fixture closure included)."""
    info = getattr(item, "_fixtureinfo", None)
    found = (getattr(defs[-1].func, "begin", None) for defs in info.name2fixturedefs.values()) if info else ()
    return [begin for begin in found if begin is not None]


def pytest_collection_modifyitems(session, config, items):
    # The modules whose tests wait for work started early run after the others, so that the others run beside
    # that work instead of after it on one core: those that wait for the shared tiny run alone first, the
    # Slurm test's (the longest such work) at the very end. When the tiny run runs ahead of all other work
    # (TinyRun.ahead()), it ends minutes before the others, so the modules that wait for it alone run first
    # of all: their Snakemake calls then run beside the other background work, too. Whole modules, so module
    # fixtures are made once (sorted test by test, two sessions used more CPU, not less: benchmarks/README.md).
    waiting = {}  # module -> the early work its tests wait for
    for item in items:
        waiting.setdefault(item.module, set()).update(begin.work for begin in _begins(item))
    tiny_run_alone = {tiny_run_handle.begin.work}
    items.sort(
        key=lambda item: (
            not (TinyRun.ahead() and waiting[item.module] == tiny_run_alone),
            bool(waiting[item.module]),
            bool(waiting[item.module] - tiny_run_alone),
            item.get_closest_marker("slurm") is not None,
        )
    )


def pytest_collection_finish(session):
    factory = getattr(session.config, "_tmp_path_factory", None)  # the fixture's factory (no fixtures in hooks)
    if session.config.option.collectonly or factory is None:
        return
    begins = {begin: None for item in session.items for begin in _begins(item)}
    for begin in begins:
        _begun.append(begin(factory))


def pytest_sessionfinish(session):
    while _begun:
        _begun.pop().stop()


def _tiny_run_folder(tmp_path_factory, name: str) -> Path:
    folder = os.environ.get("TASKSPACE_TINY_RUN") if name == "tiny" else None
    return Path(folder).resolve() if folder else tmp_path_factory.mktemp(f"{name}-run")


def _start_tiny_run(tmp_path_factory) -> TinyRun:
    """The shared tiny run (both tracks and a given space), made once per test session. Read it only.
    ``tiny_run_handle``: the run before it finished (the Slurm test has other work meanwhile).

    TASKSPACE_TINY_RUN=<folder> keeps the run in that folder across test sessions: the same command brings it
    up to date there (Snakemake redoes only what changed since), so checking a new assertion on the shared run
    takes seconds, not minutes.
    """
    return TinyRun(_tiny_run_folder(tmp_path_factory, "tiny"))


def _start_tiny_run_resumed(tmp_path_factory):
    """The session's second run of the shared tiny run's zoo spaces, SIGKILLed twice and resumed
    (tests/resumed_run.py): test_resume.py checks what it saw, test_determinism.py compares its results with
    the shared run's."""
    from resumed_run import ResumedRun  # it imports this module's helpers

    return ResumedRun(tmp_path_factory.mktemp("killed"))


tiny_run, tiny_run_handle = started_early("tiny_run", _start_tiny_run, scope="session")
tiny_run_resumed, tiny_run_resumed_handle = started_early("tiny_run_resumed", _start_tiny_run_resumed, scope="session")


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path) -> Run:
    """A copy of the shared tiny run of this test's own, to change."""
    return copy_run(tiny_run, tmp_path / "run")


# ---------------------------------------------------------------------------------------------------------
# other fixtures


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
    """The paper's published 34 x 34 kappa and its member names (resources/paper-lm-kappa/ of the checkout)."""
    return PAPER_KAPPA


@pytest.fixture
def paper_reference_dir():
    """The paper's expected picks on that kappa (expected_mmi.txt, mmi_top5.txt): only in shared/reference
    beside the checkout, which users do not have (its kappa.npy and members.txt are the checkout's)."""
    if not (REFERENCE / "expected_mmi.txt").exists():
        pytest.skip(f"reference data not present at {REFERENCE} (only in the developers' and CI's checkouts)")
    return REFERENCE
