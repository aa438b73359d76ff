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
        "../envs/taskspace.yaml"
    script:
        "../scripts/given_kappa.py"
