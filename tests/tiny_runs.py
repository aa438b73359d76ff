"""Workflow runs of tests/data/tiny-both-tracks.yaml, shared by test_resume.py and test_determinism.py.

Not a test module: both test modules import it (pytest puts tests/ on the path), so that one uninterrupted
run per test session serves both, which saves a two-minute run in CI.

Every run is the command the README and docs/troubleshooting.md give users: ``snakemake --profile
profiles/local`` (the profile sets ``rerun-incomplete``) with the config file, here on 2 cores, offline.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "tests" / "data" / "tiny-both-tracks.yaml"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
RUN_TIMEOUT_S = 900
# Outputs that hold wall-clock measurements, and the fields that do: everything else must match exactly.
TIMING_DIRS = ("results/benchmarks/",)
TIMING_FIELDS = ("train_seconds",)

_uninterrupted: dict[str, Path] = {}


def command(workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--profile", str(REPO / "profiles" / "local"), "--snakefile",
            str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
            "--cores", "2", *extra]


def new_workdir(tmp_path_factory, name: str) -> Path:
    workdir = tmp_path_factory.mktemp(name)
    shutil.copy(CONFIG, workdir / "config.yaml")
    return workdir


def snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(workdir, *extra), cwd=workdir, env=ENV, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def start(workdir: Path, log_name: str) -> subprocess.Popen:
    """A run in the background, in a session of its own: os.killpg(proc.pid, ...) reaches Snakemake and its jobs."""
    return subprocess.Popen(command(workdir), cwd=workdir, env=ENV, stdin=subprocess.DEVNULL,
                            stdout=open(workdir / log_name, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def tail(result) -> str:
    text = result if isinstance(result, str) else (result.stdout or "") + (result.stderr or "")
    return text[-4000:]


def uninterrupted(tmp_path_factory) -> Path:
    """The work folder of one uninterrupted run of the tiny config (made once per test session)."""
    key = CONFIG.read_text()
    if key not in _uninterrupted:
        workdir = new_workdir(tmp_path_factory, "uninterrupted")
        result = snakemake(workdir)
        assert result.returncode == 0, tail(result)
        _uninterrupted[key] = workdir
    return _uninterrupted[key]


def visible_files(workdir: Path) -> list[str]:
    """Result files as a user sees them: hidden names (partial files, Snakemake's stamps) and timings left out."""
    root = workdir / "results"
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(workdir).as_posix()
        if path.is_dir() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if relative.startswith(TIMING_DIRS):
            continue
        found.append(relative)
    return found


def hidden_files(workdir: Path) -> list[str]:
    """Partial files and other hidden names under results/ (Snakemake's directory stamps excepted)."""
    return sorted(p.relative_to(workdir).as_posix() for p in (workdir / "results").rglob(".*")
                  if p.name != ".snakemake_timestamp")


def fingerprint(path: Path) -> str:
    """What must be equal between two runs: HDF5, npz and safetensors by content (arrays, attributes,
    metadata), the rest by bytes; timing fields left out."""
    digest = hashlib.sha256()
    if path.suffix == ".h5":
        with h5py.File(path, "r") as h5:
            def add(name, node):
                digest.update(name.encode())
                digest.update(repr(sorted((k, _plain(v)) for k, v in node.attrs.items())).encode())
                if isinstance(node, h5py.Dataset):
                    array = node[()]
                    digest.update(f"{array.dtype}{array.shape}".encode())
                    digest.update(np.ascontiguousarray(array).tobytes())

            add("/", h5)
            h5.visititems(add)
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            for key in sorted(data.files):
                array = data[key]
                digest.update(f"{key}{array.dtype}{array.shape}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
    elif path.suffix == ".safetensors":  # by content: safetensors writes metadata keys in a random order
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            digest.update(json.dumps(handle.metadata() or {}, sort_keys=True).encode())
            for key in sorted(handle.keys()):
                array = handle.get_tensor(key)
                digest.update(f"{key}{array.dtype}{array.shape}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
    elif path.suffix == ".json" and path.parent.name == "agents":
        meta = {k: v for k, v in json.loads(path.read_text()).items() if k not in TIMING_FIELDS}
        digest.update(json.dumps(meta, sort_keys=True).encode())
    elif path.suffix == ".tsv" and path.name == "agents.tsv":
        table = pd.read_csv(path, sep="\t").drop(columns=list(TIMING_FIELDS), errors="ignore")
        buffer = io.StringIO()
        table.to_csv(buffer, sep="\t", index=False)
        digest.update(buffer.getvalue().encode())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def outputs(workdir: Path) -> dict[str, str]:
    """{result file: fingerprint} of a work folder."""
    return {relative: fingerprint(workdir / relative) for relative in visible_files(workdir)}
