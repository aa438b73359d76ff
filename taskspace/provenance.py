"""Provenance: the library versions a feature file or an agent file records, and the machine a run ran on.

Its own module rather than :mod:`taskspace.features`: an agent's JSON file records the versions too, and agent
code should not import h5py for it; nor should this import torch or transformers before a caller asks for them.

The machine: OpenBLAS picks a kernel for the CPU it runs on (Haswell, SkylakeX, Zen, ...; ``OPENBLAS_CORETYPE``
overrides it) and torch picks its vectorised code by CPU capability (DEFAULT, AVX2, AVX512, ...). Kernels
round differently: kappa, picks and ranker scores are the same on every machine (ties are broken by rule,
``taskspace.ties``), but trained agents and heads may move in the third decimal. So the run records its
machine in ``results/config.yaml`` (``machine:``) and the summary names it in its first line.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import import_module, metadata
from pathlib import Path

TORCH_PROBE = "import torch; print(torch.backends.cpu.get_cpu_capability())"
TORCH_PROBE_SECONDS = 120


def library_versions(*libraries: str) -> dict[str, str]:
    """``{"taskspace_version": ..., "<library>_version": ...}`` for taskspace and each named library, in order.

    ``libraries`` are import names (``"torch"``, ``"transformers"``); the keys are the attribute names both
    tracks' feature files carry. Values are plain str: torch's version is a str subclass that HDF5 attributes
    do not take.
    """
    from . import __version__

    versions = {"taskspace_version": str(__version__)}
    for name in libraries:
        versions[f"{name}_version"] = str(import_module(name).__version__)
    return versions


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def blas_libraries() -> list[dict]:
    """Every BLAS that numpy and scipy load: the package using it, library, version, kernel, threads."""
    import numpy
    import scipy.linalg  # noqa: F401  (loads scipy's own BLAS, which MMI's factorisations run on)

    try:
        import threadpoolctl
    except ImportError:  # numpy's build record names the library but not the kernel it picked
        build = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return [dict(used_by="numpy", library=build["name"], version=build["version"], kernel=None, threads=None)]
    return sorted(
        (
            dict(
                used_by=_package_of(info["filepath"]),
                library=info["internal_api"],
                version=info.get("version"),
                kernel=info.get("architecture"),  # OpenBLAS: openblas_get_corename()
                threads=info["num_threads"],
            )
            for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"
        ),
        key=lambda entry: entry["used_by"],
    )


def _package_of(library_path: str) -> str:
    """numpy/scipy for the copies their wheels ship (``numpy.libs/``), else the library's file name."""
    path = Path(library_path)
    return path.parent.name.removesuffix(".libs") if path.parent.name.endswith(".libs") else path.name


def torch_cpu_capability() -> str | None:
    """``torch.backends.cpu.get_cpu_capability()``, or None where torch is not installed or does not load.

    Asked in a child process unless torch is loaded already: the light rules' Python never imports torch.
    """
    if "torch" in sys.modules:
        return sys.modules["torch"].backends.cpu.get_cpu_capability()
    try:
        metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    try:
        probe = subprocess.run(
            [sys.executable, "-c", TORCH_PROBE], capture_output=True, text=True, timeout=TORCH_PROBE_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    capability = probe.stdout.strip() if probe.returncode == 0 else ""
    return capability or None


def machine() -> dict:
    """The machine block of ``results/config.yaml``."""
    return dict(
        cpu=cpu_model(),
        cores=os.cpu_count(),
        system=f"{platform.system()} {platform.machine()}",
        blas=blas_libraries(),
        openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"),
        torch_cpu_capability=torch_cpu_capability(),
    )


def describe(machine: dict) -> str:
    """One line naming the machine, e.g. ``Machine: AMD EPYC 9B14, 2 cores; BLAS: numpy openblas 0.3.31
    (SkylakeX kernel), scipy openblas 0.3.30 (SkylakeX kernel); torch CPU capability AVX512.``"""
    blas = ", ".join(
        f"{entry['used_by']} {entry['library']} {entry['version'] or ''}".rstrip()
        + (f" ({entry['kernel']} kernel)" if entry.get("kernel") else "")
        for entry in machine.get("blas") or []
    )
    coretype = machine.get("openblas_coretype")
    return (
        f"Machine: {machine.get('cpu', 'unknown CPU')}, {machine.get('cores', '?')} cores; "
        f"BLAS: {blas or 'unknown'}{f' (OPENBLAS_CORETYPE={coretype})' if coretype else ''}; "
        f"torch CPU capability {machine.get('torch_cpu_capability') or 'unknown (torch not loaded)'}."
    )
