# kappa: the task covariance of a space's members.


rule given_kappa:
    """A kappa the user supplies (e.g. the paper's published one), validated into a kappa file."""
    input:
        unpack(given_inputs),
    output:
        kappa="results/given/{name}/kappa.npz",
    log:
        "logs/given/{name}/kappa.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/given_kappa.py"


rule kappa:
    """kappa of a space from its members' probe features: one pass (or one per pair of member groups when
    the cross-product matrix exceeds 60% of mem_mb)."""
    input:
        features=probe_features,
    output:
        kappa="results/{space}/kappa.npz",
    log:
        "logs/{space}/kappa.log",
    benchmark:
        "results/benchmarks/{space}/kappa.tsv"
    wildcard_constraints:
        space=pattern(FEATURE_SPACES),
    conda:
        "../envs/torch.yaml"
    resources:
        **GPU,
        # 16 GB: the paper's 34 language models (a 7.9 GB matrix) in one pass
        mem_mb=16000,
        runtime=60,
    params:
        members=lambda wildcards: FEATURE_SPACES[wildcards.space],
        debiased=False,
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/kappa_features.py"
