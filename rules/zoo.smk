# Zoo spaces (zoos: in the config): the user's members of either modality on the user's tasks. Each zoo is
# the space zoo/<name>; kappa, selection, rankers, transferability and the per-space figures come from the
# shared rules. Planning lives in taskspace/zoo/plan.py (PLAN.zoo).


rule zoo_demo_data:
    """The demo's data written from packages: digits as image folders, gensim's polarity sentences as tables."""
    output:
        folder=directory("results/zoo/data/{demo}"),
    log:
        "logs/zoo/data/{demo}.log",
    wildcard_constraints:
        demo=pattern(PLAN.zoo.demos()),
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        seed=config["seed"],
    script:
        "../scripts/zoo_demo_data.py"


rule zoo_seeded_weights:
    """A builder's module with seeded random weights, saved as safetensors (a weights file without a download)."""
    output:
        weights="results/zoo/seeded/{stem}-seed{seed}.safetensors",
    log:
        "logs/zoo/seeded/{stem}-seed{seed}.log",
    wildcard_constraints:
        seed="[0-9]+",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        entry=lambda wildcards, output: PLAN.zoo.seeded_weights()[output.weights],
    script:
        "../scripts/zoo_seeded_weights.py"


rule zoo_build_member:
    """A small seeded model (build:) written into a folder, with the entry that reads it (tests and demos)."""
    input:
        unpack(zoo_build_inputs),
    output:
        folder=directory("results/zoo/{zoo}/members/{pass_}"),
        entry="results/zoo/{zoo}/members/{pass_}.json",
    log:
        "logs/zoo/{zoo}/members/{pass_}.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        entry=lambda wildcards: PLAN.zoo.pass_entries(wildcards.zoo, wildcards.pass_)[0],
        input=lambda wildcards: PLAN.zoo.zoos[wildcards.zoo].input,
        probe=lambda wildcards: PLAN.zoo.dataset_entry(wildcards.zoo, "probe"),
        seed=config["seed"],
    script:
        "../scripts/zoo_build_member.py"


rule zoo_features:
    """One pass over one dataset: a checkpoint loaded once, every member of it (layers, poolings) written."""
    input:
        unpack(zoo_pass_inputs),
    output:
        features=directory("results/zoo/{zoo}/features/{pass_}/{dataset}"),
    log:
        "logs/zoo/{zoo}/features/{pass_}/{dataset}.log",
    benchmark:
        "results/benchmarks/zoo/{zoo}/features/{pass_}/{dataset}.tsv"
    wildcard_constraints:
        dataset=pattern(PLAN.zoo.datasets),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=8000,
        runtime=120,
    params:
        settings=zoo_pass_params,
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/zoo_features.py"


rule zoo_heads:
    """Every (method, round, k) head of one task and every member alone, validated protocol, trained together."""
    input:
        unpack(zoo_task_inputs),
        selection="results/zoo/{zoo}/selection.tsv",
        ranking="results/zoo/{zoo}/ranking/{task}.tsv",
    output:
        metrics="results/zoo/{zoo}/tasks/{task}.tsv",
    log:
        "logs/zoo/{zoo}/tasks/{task}.log",
    benchmark:
        "results/benchmarks/zoo/{zoo}/tasks/{task}.tsv"
    group:
        "evaluation"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=4000,
        runtime=8 * 30,
    params:
        settings=lambda wildcards: PLAN.zoo.task_params(
            f"zoo/{wildcards.zoo}", wildcards.task
        ),
        seed=config["seed"],
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/zoo_heads.py"


rule zoo_metrics:
    """The zoo's tidy metrics table (the one schema of every track)."""
    input:
        tasks=lambda wildcards: PLAN.zoo.task_metrics(wildcards.zoo),
    output:
        metrics=report(
            "results/zoo/{zoo}/metrics.tsv",
            caption="../report/zoo-metrics.rst",
            category="zoo/{zoo}",
        ),
    log:
        "logs/zoo/{zoo}/metrics.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/collect_metrics.py"


rule figure_zoo:
    """Test metric against k (MMI line, random band) or MMI's gain over random, per task, of one protocol."""
    input:
        metrics="results/zoo/{zoo}/metrics.tsv",
    output:
        figure_outputs(
            "results/figures/zoo/{zoo}/{kind}-{protocol}", "zoo-figure", "zoo/{zoo}"
        ),
    log:
        "logs/zoo/{zoo}/figure-{kind}-{protocol}.log",
    wildcard_constraints:
        kind="accuracy|gain",
        protocol=pattern(PROTOCOLS),
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/zoo_figure.py"


rule zoos:
    """Every zoo space: picks, figures, metrics, rankers and transferability."""
    input:
        PLAN.targets()["zoos"],
