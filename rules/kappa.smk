# kappa: the task covariance of a space's members.


def given_inputs(wildcards):
    entry = config["given"][wildcards.name]
    inputs = {"kappa": entry["kappa"]}
    if "members" in entry:
        inputs["members"] = entry["members"]
    return inputs


rule given_kappa:
    """A kappa the user supplies (e.g. the paper's published one), validated into a kappa file."""
    input:
        unpack(given_inputs),
    output:
        kappa="results/given/{name}/kappa.npz",
    log:
        "logs/given/{name}/kappa.log",
    localrule: True
    script:
        "../scripts/given_kappa.py"
