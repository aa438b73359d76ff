"""Comparing the results of workflow runs, for test_resume.py, test_determinism.py and the Slurm test (which
compare their runs with the shared tiny run of tests/conftest.py): which result files a run made (all, or
those of the zoo spaces), a fingerprint of each that leaves out what may differ between two runs (wall-clock
fields), and the summary's sections.

Not a test module: they import it (pytest puts tests/ on the path).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

# Outputs that hold wall-clock measurements, and the fields that do (an agent's training time, a ranker's
# seconds per member in the ranking tables): everything else must match exactly.
TIMING_DIRS = ("results/benchmarks/",)
TIMING_FIELDS = ("train_seconds", "seconds")
# The zoo spaces' result folders (under results/): a run of the tracks alone has none, one of the zoo spaces alone
# only these (and its config.yaml and summary.md).
ZOO_RESULTS = ("zoo/", "figures/zoo/", "benchmarks/zoo/")


def visible_files(workdir: Path, zoos_only: bool = False) -> list[str]:
    """Result files as a user sees them: hidden names (partial files, Snakemake's stamps) and timings left out;
    with ``zoos_only`` only the zoo spaces' files."""
    root = workdir / "results"
    found = []
    for path in sorted(root.rglob("*")):
        inside = path.relative_to(root)
        if path.is_dir() or any(part.startswith(".") for part in inside.parts):
            continue
        relative = f"results/{inside.as_posix()}"
        if relative.startswith(TIMING_DIRS) or (zoos_only and not inside.as_posix().startswith(ZOO_RESULTS)):
            continue
        found.append(relative)
    return found


def hidden_files(workdir: Path) -> list[str]:
    """Partial files and other hidden names under results/ (Snakemake's directory stamps excepted)."""
    return sorted(
        p.relative_to(workdir).as_posix() for p in (workdir / "results").rglob(".*") if p.name != ".snakemake_timestamp"
    )


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
    elif path.suffix == ".tsv" and (path.name == "agents.tsv" or path.parent.name == "ranking"):
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


def outputs(workdir: Path, zoos_only: bool = False) -> dict[str, str]:
    """{result file: fingerprint} of a work folder (of its zoo spaces' files only, with ``zoos_only``)."""
    return {relative: fingerprint(workdir / relative) for relative in visible_files(workdir, zoos_only)}


def summary_sections(path: Path, tracks: bool = True, zoos: bool = True) -> list[str]:
    """results/summary.md's sections (one per ``#### `` heading, the machine line before them), those of the
    paper tracks and given spaces and those of the zoo spaces as asked."""
    head, *sections = path.read_text().split("\n#### ")
    return [head, *(s for s in sections if (zoos if s.startswith("zoo/") else tracks))]
