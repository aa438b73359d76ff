"""The rules' conda envs (envs/*.yaml): in step with requirements.txt, self-contained, each rule in an env
that has what its script imports, and the taskspace package importable in a rule without an install.

conda cannot run here (no channel is reachable), so the envs are never created: these tests check their
files, the imports of every rule's script, and Snakemake's sys.path for scripts.
"""

from __future__ import annotations

import re
import site
import subprocess
import sys
import textwrap
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from conftest import REPO, load_config, prepare_workdir, snakemake

from tools import envs, imports

TORCH = {"torch", "torchvision", "transformers", "tokenizers", "safetensors", "huggingface_hub"}
HELPER = "_taskspace_path"


def rules() -> dict[str, dict[str, str]]:
    """rule name -> {"file", "conda", "script"} (paths as written, relative to rules/) of every rules/*.smk."""
    found = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:)", path.read_text(), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            entry = {"file": path.name}
            for directive in ("conda", "script"):
                match = re.search(rf"^    {directive}:\n\s+\"([^\"]+)\"", block, flags=re.M)
                if match:
                    entry[directive] = match.group(1)
            found[name] = entry
    return found


RULES = rules()
SCRIPTED = sorted(name for name, rule in RULES.items() if "script" in rule)
LIGHT = sorted(name for name in SCRIPTED if RULES[name].get("conda") == "../envs/light.yaml")


def script_of(rule: str) -> Path:
    return (REPO / "rules" / RULES[rule]["script"]).resolve()


@cache
def provided_modules(env: str) -> set[str]:
    """Top-level import names of the packages an env file installs (from .venv's installed metadata)."""
    names = {envs.normalise(name) for name in envs.closure(envs.ENVS[env]["packages"], envs.read_pins())}
    return {
        module
        for module, dists in metadata.packages_distributions().items()
        if any(envs.normalise(dist) in names for dist in dists)
    }


def test_env_files_are_generated_from_requirements():
    for env in envs.ENVS:
        path = REPO / "envs" / f"{env}.yaml"
        assert path.read_text() == envs.render(env), f"{path.name} is stale: run `make envs`"
    assert sorted(p.stem for p in (REPO / "envs").glob("*.yaml")) == sorted(envs.ENVS), "envs/ has other files"


@pytest.mark.parametrize("env", sorted(envs.ENVS))
def test_env_file_is_self_contained_and_pinned(env):
    spec = yaml.safe_load((REPO / "envs" / f"{env}.yaml").read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    conda, pip = spec["dependencies"][:-1], spec["dependencies"][-1]["pip"]
    assert conda == [f"python={envs.PYTHON}", "pip"]
    pins = {envs.normalise(name): version for name, version in envs.read_pins().values()}
    for line in pip:
        # Nothing Snakemake's copy under .snakemake/conda/ could not resolve: no -r, -e, paths or URLs.
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+]+", line), line
        name, version = line.split("==")
        assert pins[envs.normalise(name)] == version, line
    assert {"numpy", "pandas", "matplotlib", "scipy", "h5py", "pyyaml"} <= {
        envs.normalise(x.split("==")[0]) for x in pip
    }


def test_the_light_env_has_no_torch():
    names = set(envs.closure(envs.ENVS["light"]["packages"], envs.read_pins()))
    assert not names & {"torch", "torchvision", "transformers", "tokenizers", "safetensors", "triton"}


def test_every_rule_with_a_script_names_a_generated_env():
    assert len(SCRIPTED) >= 20 and LIGHT
    for name in SCRIPTED:
        conda = RULES[name].get("conda")
        assert conda in {f"../envs/{env}.yaml" for env in envs.ENVS}, (
            f"rule {name} ({RULES[name]['file']}): conda: {conda!r}; use ../envs/light.yaml if its script never "
            "imports torch (python tools/imports.py shows what it reaches), else ../envs/torch.yaml"
        )


@pytest.mark.parametrize("rule", LIGHT)
def test_light_rule_script_never_reaches_torch(rule):
    reached = imports.reach(script_of(rule)).external
    assert not reached & TORCH, f"rule {rule}: {script_of(rule).name} reaches {sorted(reached & TORCH)}"


@pytest.mark.parametrize("rule", SCRIPTED)
def test_rule_env_has_every_package_its_script_reaches(rule):
    env = Path(RULES[rule]["conda"]).stem
    missing = imports.reach(script_of(rule)).external - provided_modules(env)
    assert not missing, f"rule {rule}: envs/{env}.yaml lacks {sorted(missing)}"


def test_reach_follows_the_package_and_lazy_imports():
    """The walk is conservative where it must be: the heads' trainer and the kappa file helpers."""
    heads = imports.reach(REPO / "scripts" / "vision_heads.py")
    assert "torch" in heads.external and "taskspace.heads.train" in heads.modules  # lazy __getattr__ import
    assert "torchvision" in imports.reach(REPO / "scripts" / "vision_split.py").external  # CIFAR-100 branch
    given = imports.reach(REPO / "scripts" / "given_kappa.py")
    assert ("taskspace.kappa.result", "load_kappa") in given.units and not given.external & TORCH
    assert "gensim" in imports.reach(REPO / "scripts" / "lm_probe_text.py").external  # find_spec("gensim")


def test_the_package_has_no_import_circle():
    """No two taskspace modules import each other, directly or round a circle, even from inside a function."""
    graph = imports.import_graph()
    assert {"taskspace.sections", "taskspace.vision.data"} <= graph["taskspace.vision.split"]
    assert "taskspace.vision.split" in graph["taskspace.config"]  # a function-level import counts
    assert imports.cycles() == [], "import circles: " + "; ".join(" <-> ".join(c) for c in imports.cycles())
    circle = {**graph, "taskspace.vision.split": graph["taskspace.vision.split"] | {"taskspace.config"}}
    assert imports.cycles(circle) == [["taskspace.config", "taskspace.vision.split"]]


@pytest.mark.parametrize("rule", SCRIPTED)
def test_rule_script_imports_the_path_helper_before_taskspace(rule):
    assert imports.helper_imported_first(script_of(rule), HELPER), (
        f"{script_of(rule).name}: add `import {HELPER}  # noqa: F401` before its first taskspace import"
    )


# --- taskspace in a rule without an install -------------------------------------------------------------------


def bare_python(code: str, *path: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` in .venv's Python without site (no site-packages, no .pth: no editable taskspace), with
    ``path`` appended to sys.path as Snakemake's preamble appends its search path."""
    prelude = f"import sys; sys.path.extend({list(path)!r})\n"
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], capture_output=True, text=True, cwd=cwd)


def test_a_script_finds_the_checkout_taskspace_first(tmp_path):
    """What a rule's script gets in a conda env: the env's own site-packages, then Snakemake's search path
    (Snakemake's site-packages first), then the script's folder; taskspace is installed in none of them."""
    site_packages = site.getsitepackages()[0]
    scripts = str(REPO / "scripts")
    check = "import taskspace.selection, taskspace.kappa; print(taskspace.__file__)"
    found = bare_python(f"import {HELPER}\n{check}", site_packages, scripts, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == REPO / "taskspace" / "__init__.py"

    # Without the helper (and without the Snakefile's folder, which Snakemake 9 happens to add) it is missing.
    missing = bare_python(check, site_packages, scripts, cwd=tmp_path)
    assert missing.returncode != 0 and "No module named 'taskspace'" in missing.stderr

    # Another taskspace on the appended path (a non-editable install in Snakemake's site-packages) loses.
    other = tmp_path / "other-site" / "taskspace"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise ImportError('the wrong taskspace')\n")
    first = bare_python(f"import {HELPER}\n{check}", str(other.parent), site_packages, scripts, cwd=tmp_path)
    assert first.returncode == 0, first.stderr


def test_snakemake_puts_the_script_folder_on_the_path():
    """The helper is found because Snakemake's preamble appends a local script's folder (9.x, as read from
    snakemake/script/__init__.py): if a Snakemake release stops that, this fails before the rules do."""
    from snakemake import script

    source = Path(script.__file__).read_text()
    assert "searchpaths.append(path.get_basedir()" in source and "sys.path.extend(" in source


BLOCKER = '''
"""Loaded by every Python of the run (PYTHONPATH): taskspace not installed, torch and its kin absent."""
import atexit, os, sys

sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
BLOCKED = {blocked!r}
attempts = []

class Blocker:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
        return None

sys.meta_path.insert(0, Blocker)

@atexit.register
def report():
    if ".snakemake/scripts/" in (sys.argv[0] if sys.argv else ""):
        module = sys.modules.get("taskspace")
        with open(os.environ["BLOCKER_REPORT"], "a") as handle:
            handle.write(f"{{os.path.basename(sys.argv[0])}}\\t{{getattr(module, '__file__', None)}}\\t"
                         f"{{','.join(attempts)}}\\n")
'''


@pytest.mark.workflow
def test_light_rules_run_without_torch_or_an_installed_taskspace(tmp_path):
    """The light rules of a `given` space through Snakemake's real script jobs, in a Python where torch,
    torchvision, transformers, tokenizers and safetensors cannot be imported and taskspace is not installed."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER.format(blocked=sorted(TORCH))))
    workdir = prepare_workdir(tmp_path / "run", load_config("given"))
    report = tmp_path / "imports.tsv"
    env = {"PYTHONPATH": str(blocker), "BLOCKER_REPORT": str(report)}
    snakemake(workdir, "--skip-script-cleanup", env=env, timeout=600)

    jobs = [line.split("\t") for line in report.read_text().splitlines()]
    ran = {name.split(".", 1)[1].removesuffix(".py") for name, _, _ in jobs}
    expected = {
        Path(RULES[rule]["script"]).stem
        for rule in ("given_kappa", "select_members", "figure_mi_gain", "figure_kappa", "run_config")
    }
    assert expected <= ran, ran
    assert all(Path(RULES[rule]["script"]).stem not in ran or rule in LIGHT for rule in SCRIPTED)
    for name, package, attempts in jobs:
        assert package == str(REPO / "taskspace" / "__init__.py"), (name, package)
        assert not attempts, f"{name} tried to import {attempts}"
