"""Targeted rebuilds: after one complete run, a deleted figure or an edited zoo member reruns only what
depends on it (the LM part of the shared tiny run: 3 members, one demo task, locally on 2 cores). The tests
work on a copy of the shared tiny run (tests/conftest.py), which Snakemake finds complete."""

import copy
import re
from collections import Counter

import pytest
import yaml
from conftest import copy_run
from conftest import snakemake as run_snakemake

pytestmark = pytest.mark.workflow

# Every job that reads a member's features, directly or through kappa: what an edited member must rerun.
DOWNSTREAM_OF_FEATURES = Counter(
    {
        "kappa_member": 1,  # the edited member's own part of kappa, not the others'
        "kappa": 1,
        "lm_convergence": 1,
        "select_members": 1,
        "figure_kappa": 1,
        "figure_mi_gain": 1,
        "lm_probes": 1,
        "lm_metrics": 1,
        "lm_table2": 1,
        "figure_lm_task": 2,  # one per protocol
        "rank_members": 1,  # the rankers read every member's task features
        "transferability": 1,
        "figure_transferability": 2,
        "figure_rankers": 2,
        "summary": 1,
        "all": 1,
    }
)


def snakemake(workdir, *args, config):
    return run_snakemake(workdir, *args, config=config).stdout


def planned(workdir, config, *targets):
    """The jobs a dry run would run: [(rule, wildcards, reason)]."""
    text = snakemake(workdir, "--dry-run", *targets, config=config)
    jobs = []
    for line in text.splitlines():
        if m := re.match(r"^\s*(?:local)?rule (\w+):$", line):
            jobs.append({"rule": m.group(1), "wildcards": {}, "reason": ""})
        elif jobs and (m := re.match(r"^\s+(wildcards|reason): (.*)$", line)):
            key, value = m.groups()
            jobs[-1][key] = dict(i.split("=", 1) for i in value.split(", ")) if key == "wildcards" else value
    return jobs


def mtimes(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def done(tiny_run, tmp_path_factory):
    """A copy of the shared tiny run, complete; returns (workdir, config path, config)."""
    workdir = copy_run(tiny_run, tmp_path_factory.mktemp("rebuilds") / "run").workdir
    path = workdir / "config.yaml"
    assert planned(workdir, path) == [], "a complete run left work to do"
    return workdir, path, yaml.safe_load(path.read_text())


def test_deleted_figure_reruns_only_its_rule(done):
    workdir, config, _ = done
    figure = "results/figures/lm/mi-gain.png"
    (workdir / figure).unlink()
    jobs = planned(workdir, config)
    assert sorted(job["rule"] for job in jobs) == ["all", "figure_mi_gain"]
    assert jobs[[j["rule"] for j in jobs].index("figure_mi_gain")]["wildcards"] == {"space": "lm"}
    # asked for by name, the figure is rebuilt and no other file is touched
    before = mtimes(workdir / "results")
    assert [job["rule"] for job in planned(workdir, config, figure)] == ["figure_mi_gain"]
    snakemake(workdir, figure, config=config)
    after = mtimes(workdir / "results")
    assert set(after) == set(before) | {"figures/lm/mi-gain.png"}
    assert {path for path in before if after[path] != before[path]} == set()
    assert planned(workdir, config) == []


def test_deleted_table_reruns_only_its_rule(done):
    workdir, config, _ = done
    table = "results/lm/table2.md"
    (workdir / table).unlink()
    assert sorted(job["rule"] for job in planned(workdir, config)) == ["all", "lm_table2"]
    snakemake(workdir, table, config=config)
    assert planned(workdir, config) == []


def test_edited_member_reruns_only_its_features_and_what_depends_on_them(done, tmp_path):
    workdir, _, config = done
    edited = copy.deepcopy(config)
    member = edited["lm"]["members"][0]
    assert member["name"] == "minilm-l2"
    member["layer"] = 4
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(edited, sort_keys=False))
    edited_files = {"results/lm/features/minilm-l2/bigram-shift.h5", "results/lm/features/minilm-l2/probe.h5"}

    # --summary: per output file, why it is out of date ("params changed") and whether it will be redone
    rows = [line.split("\t") for line in snakemake(workdir, "--summary", config=path).splitlines()]
    header, rows = rows[0], [dict(zip(rows[0], row)) for row in rows[1:]]
    assert {"output_file", "rule", "status", "plan"} <= set(header)
    # results/config.yaml records the whole config, so any edit rewrites it; nothing depends on it
    assert {r["output_file"] for r in rows if r["status"] == "params changed"} == edited_files | {"results/config.yaml"}
    pending = {r["output_file"] for r in rows if r["plan"] == "update pending"}
    assert edited_files <= pending
    assert not [
        r
        for r in rows
        if r["rule"] in ("lm_features", "lm_build_member", "lm_probe_text", "lm_demo_task")
        and r["output_file"] not in edited_files
        and r["plan"] != "no update"
    ]
    # --list-changes params names them too (Snakemake 9.27.1 also lists every other output that has
    # recorded params, changed or not: docs/cluster.md); no rule's code changed
    assert edited_files <= set(snakemake(workdir, "--list-changes", "params", config=path).split())
    assert snakemake(workdir, "--list-changes", "code", config=path).split() == []

    jobs = planned(workdir, path)
    features = [job for job in jobs if job["rule"] == "lm_features"]
    assert sorted(job["wildcards"]["dataset"] for job in features) == ["bigram-shift", "probe"]
    assert {job["wildcards"]["member"] for job in features} == {"minilm-l2"}
    assert all("Params have changed" in job["reason"] for job in features), features
    rest = Counter(job["rule"] for job in jobs if job["rule"] != "lm_features")
    assert rest == DOWNSTREAM_OF_FEATURES + Counter({"run_config": 1})  # no lm_build_member, lm_probe_text, ...
