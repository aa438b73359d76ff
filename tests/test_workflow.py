"""The workflow end to end through the real Snakemake command line: the given space of the shared tiny run
(tests/configs/given.yaml), the machine it records, a targeted rerun in a copy of it, and bad inputs that stop a
run early."""

import numpy as np
import pytest
import yaml
from conftest import REPO, load_config, prepare_workdir, snakemake

from taskspace.mmi import GaussianZoo
from taskspace.provenance import describe, machine

pytestmark = pytest.mark.workflow


def test_given_kappa_space_end_to_end(tiny_run):
    table = tiny_run.tsv("given/paper-lm/selection.tsv")
    names = (REPO / "resources/paper-lm-kappa/members.txt").read_text().split()
    greedy = GaussianZoo(np.load(REPO / "resources/paper-lm-kappa/kappa.npy")).greedy(4)
    mmi = table[(table.method == "mmi") & (table.k == 4)].sort_values("rank")
    assert list(mmi.member) == [names[i] for i in greedy.order]
    assert table[table.method == "random"].groupby("k")["round"].nunique().tolist() == [6, 6, 6, 6]
    for figure in ("mi-gain", "kappa-dendrogram"):
        assert (tiny_run / f"figures/given/paper-lm/{figure}.png").stat().st_size > 10_000
    assert "start select_members" in tiny_run.log("given/paper-lm/selection.log")


def test_the_summary_names_the_machine_the_run_recorded(tiny_run):
    recorded = yaml.safe_load(tiny_run.text("config.yaml"))["machine"]
    assert recorded["cpu"] == machine()["cpu"] and recorded["torch_cpu_capability"]
    assert tiny_run.text("summary.md").splitlines()[0] == describe(recorded)


def test_deleting_one_figure_reruns_only_its_rule(tiny_run_copy):
    target = tiny_run_copy / "figures/given/paper-lm/mi-gain.png"
    target.unlink()
    dry = snakemake(tiny_run_copy.workdir, "--dry-run", "--quiet", "rules")
    assert "figure_mi_gain" in dry.stdout
    for other in ("select_members", "given_kappa", "figure_kappa"):
        assert other not in dry.stdout


@pytest.fixture
def given_workdir(tmp_path):
    return prepare_workdir(tmp_path, load_config("given"))


def test_bad_config_fails_before_any_job(given_workdir):
    result = snakemake(given_workdir, "--config", "device=gpu", check=False)
    assert result.returncode != 0
    assert "device: 'gpu' is not one of auto, cpu, cuda" in result.stdout + result.stderr
    assert not (given_workdir / "results").exists()


def test_bad_kappa_fails_with_one_line_and_no_output(given_workdir):
    bad = given_workdir / "bad.npy"
    np.save(bad, np.array([[1.0, 0.5], [0.2, 1.0]]))
    config = load_config("given")
    config["given"] = {"broken": {"kappa": str(bad)}}
    result = snakemake(given_workdir, config=config, check=False)
    assert result.returncode != 0
    log = (given_workdir / "logs/given/broken/kappa.log").read_text()
    assert "bad.npy: not symmetric" in log
    assert not (given_workdir / "results/given/broken/kappa.npz").exists()
