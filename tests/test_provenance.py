import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pandas as pd
import yaml

import taskspace
from taskspace import provenance
from taskspace.provenance import library_versions
from taskspace.summary import summary


def test_taskspace_first_then_the_named_libraries_in_order_as_plain_str():
    versions = library_versions("numpy", "yaml")
    assert list(versions) == ["taskspace_version", "numpy_version", "yaml_version"]
    assert versions["taskspace_version"] == taskspace.__version__ and versions["numpy_version"] == np.__version__
    assert all(type(v) is str for v in versions.values())
    assert library_versions() == {"taskspace_version": taskspace.__version__}


def test_machine_names_every_loaded_blas_with_its_kernel():
    import threadpoolctl

    machine = provenance.machine()
    assert set(machine) == {"cpu", "cores", "system", "blas", "openblas_coretype", "torch_cpu_capability"}
    assert machine["cores"] == os.cpu_count() and machine["cpu"]
    assert {entry["used_by"] for entry in machine["blas"]} >= {"numpy", "scipy"}  # the wheels' own OpenBLAS copies
    loaded = {(info["internal_api"], info.get("architecture")) for info in threadpoolctl.threadpool_info()}
    assert {(entry["library"], entry["kernel"]) for entry in machine["blas"]} <= loaded
    assert machine["openblas_coretype"] == os.environ.get("OPENBLAS_CORETYPE")
    assert yaml.safe_load(yaml.safe_dump(machine)) == machine  # plain data for results/config.yaml


def test_torch_capability_is_asked_in_a_child_process():
    """A light rule's Python asks for torch's capability without loading torch itself."""
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from taskspace.provenance import torch_cpu_capability as ask; "
            "print(ask()); print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    import torch

    assert child.stdout.split() == [torch.backends.cpu.get_cpu_capability(), "False"]


def test_torch_capability_is_none_without_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(provenance, "TORCH_PROBE", "raise SystemExit('torch does not load')")
    assert provenance.torch_cpu_capability() is None

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(provenance.metadata, "version", not_installed)
    monkeypatch.setattr(provenance.subprocess, "run", None)  # never started when torch is not installed
    assert provenance.torch_cpu_capability() is None


def test_describe_is_one_line_naming_cpu_kernels_and_torch():
    machine = {
        "cpu": "AMD EPYC 9B14",
        "cores": 2,
        "blas": [
            {"used_by": "numpy", "library": "openblas", "version": "0.3.31", "kernel": "SkylakeX", "threads": 2},
            {"used_by": "scipy", "library": "openblas", "version": "0.3.30", "kernel": None, "threads": 2},
        ],
        "openblas_coretype": "Haswell",
        "torch_cpu_capability": "AVX512",
    }
    assert provenance.describe(machine) == (
        "Machine: AMD EPYC 9B14, 2 cores; BLAS: numpy openblas 0.3.31 (SkylakeX kernel), scipy openblas 0.3.30 "
        "(OPENBLAS_CORETYPE=Haswell); torch CPU capability AVX512."
    )
    assert "torch CPU capability unknown" in provenance.describe({**machine, "torch_cpu_capability": None})
    assert "\n" not in provenance.describe(provenance.machine())


def test_summary_names_the_machine_in_its_first_line():
    line = "Machine: a CPU, 2 cores; BLAS: numpy openblas 0.3.31 (Zen kernel); torch CPU capability AVX2."
    metrics = pd.DataFrame(
        [dict(task="t", protocol="validated", method=method, round=0, k=1, test=0.5) for method in ("mmi", "random")]
    )
    text = summary({"digits": metrics}, None, machine=line)
    assert text.splitlines()[:3] == [line, "", "#### vision/digits, validated protocol"]
    assert summary({"digits": metrics}, None).startswith("#### vision/digits")
