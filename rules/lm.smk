# The LM track (the paper's Section 5.1): word features of every member on the probe text and on the
# tasks, kappa with its convergence study, token probes on the picks. kappa and selection come from the
# shared rules (space lm).


rule lm_probe_text:
    """The probe lines, filtered by min_words (and max_sentences), one a line; the user's file as input."""
    input:
        unpack(
            lambda wildcards: (
                {"source": LM["probe"]["text"]}
                if LM and os.path.exists(LM["probe"]["text"])
                else {}
            )
        ),
    output:
        text="results/lm/probe.txt",
    log:
        "logs/lm/probe-text.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        probe=LM["probe"] if LM else {},
    script:
        "../scripts/lm_probe_text.py"


rule lm_demo_task:
    """A demo token task made from English text (bigram shift or word replacement), as CoNLL-X."""
    output:
        **{part: f"results/lm/tasks/{{task}}/{part}.conllx" for part in SPLITS},
    log:
        "logs/lm/tasks/{task}.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        format=lambda wildcards: LM_TASKS[wildcards.task]["format"],
        demo=LM["demo_tasks"] if LM else {},
        seed=config["seed"],
    script:
        "../scripts/lm_demo_task.py"


rule lm_build_member:
    """A small member of another family built locally with a fixed seed (for offline runs)."""
    input:
        text="results/lm/probe.txt",
    output:
        folder=directory("results/lm/members/{member}"),
    log:
        "logs/lm/members/{member}.log",
    conda:
        "../envs/torch.yaml"
    params:
        entry=lambda wildcards: LM_MEMBERS[wildcards.member],
        seed=config["seed"],
    script:
        "../scripts/lm_build_member.py"


rule lm_features:
    """Word features of one member on one dataset: the probe text or one task's train/dev/test."""
    input:
        unpack(lm_feature_inputs),
    output:
        features="results/lm/features/{member}/{dataset}.h5",
    log:
        "logs/lm/features/{member}/{dataset}.log",
    benchmark:
        "results/benchmarks/lm/features/{member}/{dataset}.tsv"
    wildcard_constraints:
        member=pattern(PLAN.lm_solo_members),
        dataset=pattern(["probe", *LM_DATASETS]),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        **GPU,
        mem_mb=8000,
        runtime=120,
    params:
        **LM_EXTRACTION,
        entries=lambda wildcards: PLAN.lm_pass_entries(wildcards.member),
    script:
        "../scripts/lm_features.py"


rule lm_pass:
    """Word features of the members of one checkpoint (several layers or poolings) on one dataset, from one
    forward pass a batch: a file per member in the pass's folder."""
    input:
        unpack(lm_feature_inputs),
    output:
        folder=directory("results/lm/passes/{pass_}/{dataset}"),
    log:
        "logs/lm/passes/{pass_}/{dataset}.log",
    benchmark:
        "results/benchmarks/lm/passes/{pass_}/{dataset}.tsv"
    wildcard_constraints:
        pass_=pattern(PLAN.lm_shared_passes),
        dataset=pattern(["probe", *LM_DATASETS]),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        **GPU,
        mem_mb=8000,
        runtime=120,
    params:
        **LM_EXTRACTION,
        entries=lambda wildcards: PLAN.lm_pass_entries(wildcards.pass_),
    script:
        "../scripts/lm_features.py"


rule lm_pass_member:
    """A member's feature file from its pass's folder: a hard link (no copy), where every member's file is."""
    input:
        folder=lambda wildcards: PLAN.lm_pass_dir(
            PLAN.lm_pass_of(wildcards.member), wildcards.dataset
        ),
    output:
        features="results/lm/features/{member}/{dataset}.h5",
    log:
        "logs/lm/features/{member}/{dataset}.log",
    wildcard_constraints:
        member=pattern(PLAN.lm_shared_members),
        dataset=pattern(["probe", *LM_DATASETS]),
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/lm_pass_member.py"


rule lm_convergence:
    """The paper's Fig. 2: KL of kappa on the first n probe lines to the full kappa, against their words."""
    input:
        features=[f"results/lm/features/{member}/probe.h5" for member in LM_MEMBERS],
        text="results/lm/probe.txt",
    output:
        table=report(
            "results/lm/convergence.tsv",
            caption="../report/lm-convergence-table.rst",
            category="lm",
        ),
        figure=figure_outputs("results/figures/lm/convergence", "lm-convergence", "lm"),
    log:
        "logs/lm/convergence.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        sentences=LM["probe"]["convergence"] if LM else [],
        members=list(LM_MEMBERS),
        version=VERSION,
    script:
        "../scripts/lm_convergence.py"


rule lm_probes:
    """Every (method, round, k) token probe of one task under every protocol, trained together."""
    input:
        unpack(lm_task_files),
        selection="results/lm/selection.tsv",
        ranking="results/lm/ranking/{task}.tsv",
        features=lambda wildcards: [
            f"results/lm/features/{member}/{LM_DATASET_OF[wildcards.task]}.h5"
            for member in LM_MEMBERS
        ],
    output:
        metrics="results/lm/metrics/{task}.tsv",
    log:
        "logs/lm/probes/{task}.log",
    benchmark:
        "results/benchmarks/lm/probes/{task}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=lm_probes_mem_mb,
        # one task's heads: hours and tens of GB at paper scale, so never packed with other jobs
        runtime=8 * 60,
    params:
        format=lambda wildcards: LM_TASKS[wildcards.task]["format"],
        files=lambda wildcards: lm_task_paths(wildcards.task),
        members=list(LM_MEMBERS),
        evaluation=LM["evaluation"] if LM else {},
        seed=config["seed"],
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/lm_probes.py"


rule lm_metrics:
    """The tidy LM metrics table (task, protocol, method, round, k, members, metric, dev, test, ...)."""
    input:
        tasks=[f"results/lm/metrics/{task}.tsv" for task in LM_TASKS],
    output:
        metrics=report(
            "results/lm/metrics.tsv", caption="../report/lm-metrics.rst", category="lm"
        ),
    log:
        "logs/lm/metrics.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/collect_metrics.py"


rule lm_table2:
    """The paper's Table 2: per task and k, MMI, random mean and spread, single members (TSV and Markdown)."""
    input:
        metrics="results/lm/metrics.tsv",
    output:
        tsv=report(
            "results/lm/table2.tsv", caption="../report/lm-table2.rst", category="lm"
        ),
        md="results/lm/table2.md",
    log:
        "logs/lm/table2.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        baselines=PLAN.baselines("lm"),
    script:
        "../scripts/lm_report.py"


rule figure_lm_task:
    """The paper's Fig. 3 for one task and protocol."""
    input:
        metrics="results/lm/metrics.tsv",
    output:
        figure_outputs("results/figures/lm/task-{task}-{protocol}", "lm-task", "lm"),
    log:
        "logs/lm/figure-task-{task}-{protocol}.log",
    wildcard_constraints:
        protocol=pattern(PROTOCOLS),
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        baselines=PLAN.baselines("lm"),
    script:
        "../scripts/figure_lm_task.py"


rule lm:
    """The whole LM track: metrics, Table 2 and figures."""
    input:
        lm_targets(),
