# kappa: the task covariance of a space's members. A job per member reads its probe features once and writes
# its sketch (its centred Gram when that pays, else its item keys); the combine takes the cheaper form at the
# files' shapes (taskspace.kappa, taskspace.kappa_plan). A new member costs its own job and the combine.


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


rule kappa_member:
    """One member's part of kappa: its probe features read once, its sketch written (its n x n centred Gram when
    n <= 2 d, else its item keys)."""
    input:
        features=kappa_member_feature,
    output:
        sketch="results/{space}/kappa-members/{member}.h5",
    log:
        "logs/{space}/kappa-members/{member}.log",
    benchmark:
        "results/benchmarks/{space}/kappa-members/{member}.tsv"
    wildcard_constraints:
        space=pattern(FEATURE_SPACES),
        member="[^/]+",  # any name: the input function refuses one not of the space
    conda:
        "../envs/light.yaml"
    resources:
        mem_mb=kappa_member_mem_mb,
        runtime=30,
    params:
        file=kappa_member_file,
        version=VERSION,
    script:
        "../scripts/kappa_member.py"


rule kappa:
    """kappa of a space from its members' sketches (and the features of members without a Gram), in the cheaper
    form at the files' shapes; the log says which form and why."""
    input:
        unpack(kappa_inputs),
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
        mem_mb=KAPPA_COMBINE_MEM_MB,
        runtime=60,
    params:
        members=lambda wildcards: FEATURE_SPACES[wildcards.space],
        files=kappa_files,
        debiased=False,
        device=config["device"],
        version=VERSION,
    script:
        "../scripts/kappa_combine.py"
