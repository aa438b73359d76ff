"""The package as pip installs it: its declared dependencies and what a non-editable install contains."""

from __future__ import annotations

import ast
import shutil
import site
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from conftest import REPO
from packaging.requirements import Requirement

from tools.envs import normalise, read_pins

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# Dependencies that no module of taskspace imports, and why they are needed all the same.
NOT_IMPORTED = {
    "snakemake": "runs the workflow, whose rules call the package",
    "sacremoses": "transformers imports it for the slow XLM tokenizers of the paper's LM zoo",
}


def requirements(extras: bool = False) -> dict[str, Requirement]:
    lines = list(PROJECT["dependencies"])
    if extras:
        lines += [line for group in PROJECT["optional-dependencies"].values() for line in group]
    return {normalise(Requirement(line).name): Requirement(line) for line in lines}


def imported_distributions() -> dict[str, set[str]]:
    """distribution -> the top-level modules of it that taskspace imports (any import, and find_spec names)."""
    modules = set()
    for path in (REPO / "taskspace").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "find_spec" and node.args:
                if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    modules.add(node.args[0].value.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"__future__", "taskspace"}
    owners = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for module in modules:
        assert module in owners, f"taskspace imports {module}, which no installed distribution provides"
        for dist in owners[module]:
            found.setdefault(normalise(dist), set()).add(module)
    return found


def test_every_imported_package_is_a_dependency():
    declared = requirements()
    missing = {dist: modules for dist, modules in imported_distributions().items() if dist not in declared}
    assert not missing, f"imported by taskspace but not in pyproject's dependencies: {missing}"


def test_every_dependency_is_imported_or_says_why():
    unused = set(requirements()) - set(imported_distributions())
    assert unused == set(NOT_IMPORTED), unused


def test_dependency_ranges_hold_the_tested_pins():
    pins = {name: version for name, (_, version) in read_pins().items()}
    for name, requirement in requirements(extras=True).items():
        assert name in pins, f"{requirement}: no pin in requirements.txt"
        assert requirement.specifier.contains(pins[name]), f"{requirement} excludes the tested {name}=={pins[name]}"
        assert any(spec.operator == ">=" for spec in requirement.specifier), f"{requirement}: no lower bound"


def test_a_non_editable_install_has_the_schema_and_no_checkout_tools(tmp_path):
    """pip install of a copy of the source tree (no editable link to the checkout) into a folder of its own."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "taskspace", source / "taskspace", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    package = target / "taskspace"
    assert (package / "config_schema.yaml").is_file()
    assert not (package / "rulegraph.py").exists() and not (target / "tools").exists()
    assert (target / "bin" / "taskspace").is_file()

    # Without site (no editable taskspace), the installed copy first, .venv's site-packages for numpy & co.
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]; sys.path.append(sys.argv[2])\n"
        "import taskspace, taskspace.config as config\n"
        "schema = config.load_schema()\n"
        "print(taskspace.__file__); print(config.SCHEMA); print(sorted(schema['properties']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target), site.getsitepackages()[0]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module, schema_path, keys = result.stdout.splitlines()
    assert Path(module) == package / "__init__.py"
    assert Path(schema_path).resolve() == (package / "config_schema.yaml").resolve()
    assert all(key in keys for key in ("given", "lm", "vision", "seed"))
