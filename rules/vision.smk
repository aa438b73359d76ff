# The vision track (the paper's Section 5.2): agents trained on class subsets, their features, heads on
# the admin's tasks. kappa and selection come from the shared rules (space vision/<experiment>).


rule vision_split:
    """Probe images, admin tasks and training images, agents and their classes: one seeded JSON."""
    output:
        split="results/vision/{experiment}/split.json",
    log:
        "logs/vision/{experiment}/split.log",
    localrule: True
    conda:
        "../envs/torch.yaml"
    params:
        experiment=experiment_of,
        seed=config["seed"],
    script:
        "../scripts/vision_split.py"


rule vision_agent:
    """Train one agent on its C classes (one job per agent)."""
    input:
        split="results/vision/{experiment}/split.json",
    output:
        weights="results/vision/{experiment}/agents/{agent}.safetensors",
        meta="results/vision/{experiment}/agents/{agent}.json",
    log:
        "logs/vision/{experiment}/agents/{agent}.log",
    benchmark:
        "results/benchmarks/vision/{experiment}/agents/{agent}.tsv"
    wildcard_constraints:
        agent="agent[0-9]+",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=4000,
        runtime=240,
    params:
        experiment=experiment_of,
        seed=config["seed"],
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/vision_agent.py"


rule vision_features:
    """Penultimate features of one agent: rotated probe images, admin train and test images."""
    input:
        split="results/vision/{experiment}/split.json",
        weights="results/vision/{experiment}/agents/{agent}.safetensors",
        meta="results/vision/{experiment}/agents/{agent}.json",
    output:
        features="results/vision/{experiment}/features/{agent}.h5",
    log:
        "logs/vision/{experiment}/features/{agent}.log",
    benchmark:
        "results/benchmarks/vision/{experiment}/features/{agent}.tsv"
    wildcard_constraints:
        agent="agent[0-9]+",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=4000,
        runtime=30,
    params:
        experiment=experiment_of,
        seed=config["seed"],
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/vision_features.py"


rule vision_peek:
    """The peek ranking: single-agent heads on one admin task, best test accuracy first."""
    input:
        split="results/vision/{experiment}/split.json",
        features=agent_features,
    output:
        ranking="results/vision/{experiment}/peek.tsv",
    log:
        "logs/vision/{experiment}/peek.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **GPU,
        mem_mb=4000,
        runtime=30,
    params:
        agents=lambda wildcards: VISION[wildcards.experiment]["agent_names"],
        evaluation=evaluation_options,
        seed=config["seed"],
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/vision_peek.py"


rule vision_heads:
    """Every (method, round, k) head of one admin task under every protocol, trained together."""
    input:
        split="results/vision/{experiment}/split.json",
        selection="results/vision/{experiment}/selection.tsv",
        ranking="results/vision/{experiment}/ranking/{task}.tsv",
        features=agent_features,
    output:
        metrics="results/vision/{experiment}/tasks/{task}.tsv",
    log:
        "logs/vision/{experiment}/tasks/{task}.log",
    benchmark:
        "results/benchmarks/vision/{experiment}/tasks/{task}.tsv"
    wildcard_constraints:
        task="task[0-9]+",
    group:
        "evaluation"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **GPU,
        # heads train in groups whose agents' features fit 35% of it (taskspace.resources.FEATURE_SHARE)
        mem_mb=4000,
        # a packed group job runs its members one after another: cover the profile's 8 members
        runtime=8 * 30,
    params:
        agents=lambda wildcards: VISION[wildcards.experiment]["agent_names"],
        evaluation=evaluation_options,
        seed=config["seed"],
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/vision_heads.py"


rule vision_metrics:
    """The experiment's tidy metrics table (task, protocol, method, round, k, members, metric, dev, test, ...)."""
    input:
        tasks=lambda wildcards: [
            f"results/vision/{wildcards.experiment}/tasks/{task}.tsv"
            for task in VISION[wildcards.experiment]["task_names"]
        ],
    output:
        metrics=report(
            "results/vision/{experiment}/metrics.tsv",
            caption="../report/vision-metrics.rst",
            category="vision/{experiment}",
        ),
    log:
        "logs/vision/{experiment}/metrics.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/collect_metrics.py"


rule vision_agents_table:
    """Every agent's classes, training and held-out accuracy, training time."""
    input:
        meta=lambda wildcards: [
            f"results/vision/{wildcards.experiment}/agents/{agent}.json"
            for agent in VISION[wildcards.experiment]["agent_names"]
        ],
    output:
        table=report(
            "results/vision/{experiment}/agents.tsv",
            caption="../report/vision-agents.rst",
            category="vision/{experiment}",
        ),
    log:
        "logs/vision/{experiment}/agents-table.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/vision_agents_table.py"


rule figure_vision_accuracy:
    """Head accuracy against k: MMI and peek lines, random 5-95% band (the paper's Figs 4-6)."""
    input:
        metrics="results/vision/{experiment}/metrics.tsv",
    output:
        figure_outputs(
            "results/figures/vision/{experiment}/accuracy-{protocol}",
            "vision-accuracy",
            "vision/{experiment}",
        ),
    log:
        "logs/vision/{experiment}/figure-accuracy-{protocol}.log",
    wildcard_constraints:
        protocol=pattern(PROTOCOLS),
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        kind="accuracy",
    script:
        "../scripts/figure_vision.py"


rule figure_vision_gain:
    """Gain of MMI (and peek) over the mean of the random rounds, per task and k."""
    input:
        metrics="results/vision/{experiment}/metrics.tsv",
    output:
        figure_outputs(
            "results/figures/vision/{experiment}/gain-{protocol}",
            "vision-gain",
            "vision/{experiment}",
        ),
    log:
        "logs/vision/{experiment}/figure-gain-{protocol}.log",
    wildcard_constraints:
        protocol=pattern(PROTOCOLS),
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        kind="gain",
    script:
        "../scripts/figure_vision.py"


rule vision:
    """The whole vision track: metrics, agents table and figures of every experiment."""
    input:
        vision_targets(),
