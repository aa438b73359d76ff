"""One line describing the machine and the BLAS a benchmark ran on (taskspace.provenance)."""

import os

from taskspace.provenance import blas_libraries, cpu_model


def describe() -> str:
    blas = ", ".join(f"{e['used_by']} {e['library']} {e['kernel']} x{e['threads']}" for e in blas_libraries())
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return f"{cpu_model()}, {os.cpu_count()} cores, BLAS: {blas}, OPENBLAS_CORETYPE={coretype}"
