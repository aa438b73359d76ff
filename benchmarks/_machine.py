"""One line describing the machine and the BLAS a benchmark ran on."""

import os
import platform


def describe() -> str:
    import threadpoolctl

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = {
        (i["internal_api"], i.get("architecture"), i["num_threads"])
        for i in threadpoolctl.threadpool_info()
        if i["user_api"] == "blas"
    }
    blas_text = ", ".join(f"{api} {arch} x{threads}" for api, arch, threads in sorted(blas, key=str))
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return f"{cpu}, {os.cpu_count()} cores, BLAS: {blas_text}, OPENBLAS_CORETYPE={coretype}"
