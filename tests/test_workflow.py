"""The workflow end to end on a small config, through the real Snakemake command line."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from taskspace.mmi import GaussianZoo

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
pytestmark = pytest.mark.workflow


def snakemake(workdir, *args, check=True):
    result = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", *args],
                            capture_output=True, text=True, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-3000:])
    return result


@pytest.fixture
def given_workdir(tmp_path):
    config = {
        "figure_formats": ["png"],
        "given": {
            "paper-lm": {
                "kappa": str(REPO / "resources/paper-lm-kappa/kappa.npy"),
                "members": str(REPO / "resources/paper-lm-kappa/members.txt"),
                "selection": {"k_max": 4, "random_rounds": 6},
            }
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_given_kappa_space_end_to_end(given_workdir):
    snakemake(given_workdir, "--configfile", "config.yaml")
    table = pd.read_csv(given_workdir / "results/given/paper-lm/selection.tsv", sep="\t")
    names = (REPO / "resources/paper-lm-kappa/members.txt").read_text().split()
    greedy = GaussianZoo(np.load(REPO / "resources/paper-lm-kappa/kappa.npy")).greedy(4)
    mmi = table[(table.method == "mmi") & (table.k == 4)].sort_values("rank")
    assert list(mmi.member) == [names[i] for i in greedy.order]
    assert table[table.method == "random"].groupby("k")["round"].nunique().tolist() == [6, 6, 6, 6]
    for figure in ("mi-gain", "kappa-dendrogram"):
        assert (given_workdir / f"results/figures/given/paper-lm/{figure}.png").stat().st_size > 10_000
    assert "start select_members" in (given_workdir / "logs/given/paper-lm/selection.log").read_text()


def test_deleting_one_figure_reruns_only_its_rule(given_workdir):
    snakemake(given_workdir, "--configfile", "config.yaml")
    target = "results/figures/given/paper-lm/mi-gain.png"
    (given_workdir / target).unlink()
    dry = snakemake(given_workdir, "--configfile", "config.yaml", "--dry-run", "--quiet", "rules")
    assert "figure_mi_gain" in dry.stdout
    for other in ("select_members", "given_kappa", "figure_kappa"):
        assert other not in dry.stdout


def test_bad_config_fails_before_any_job(given_workdir):
    result = snakemake(given_workdir, "--configfile", "config.yaml", "--config", "device=gpu", check=False)
    assert result.returncode != 0
    assert "device: 'gpu' is not one of auto, cpu, cuda" in result.stdout + result.stderr
    assert not (given_workdir / "results").exists()


def test_bad_kappa_fails_with_one_line_and_no_output(given_workdir):
    bad = given_workdir / "bad.npy"
    np.save(bad, np.array([[1.0, 0.5], [0.2, 1.0]]))
    config = yaml.safe_load((given_workdir / "config.yaml").read_text())
    config["given"] = {"broken": {"kappa": str(bad)}}
    (given_workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(given_workdir, "--configfile", "config.yaml", check=False)
    assert result.returncode != 0
    log = (given_workdir / "logs/given/broken/kappa.log").read_text()
    assert "bad.npy: not symmetric" in log
    assert not (given_workdir / "results/given/broken/kappa.npz").exists()
