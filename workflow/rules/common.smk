# Shared names for every stage: profile, output roots, the variant x method grid.
PROFILE = config["profile"]
DATA = f"data/{PROFILE}"
RESULTS = f"results/{PROFILE}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
VARIANTS = config["run"]["variants"]
METHODS = config["run"]["methods"]
# GPU rules ask for one GPU only in the full profile; the mini profile runs on CPU. Training jobs
# ask for one of the GPU's training slots instead (`gpu_train`, several per GPU in
# profiles/default): a baseline model leaves most of a large GPU idle.
GPU = 1 if PROFILE == "full" else 0



def section(name):
    """The params.yaml section `name` with the selected profile's overlay applied.

    Each stage lists it among its params, so a change to the section or to an overlay key
    that touches it makes Snakemake run that stage again.
    """
    import copy

    out = copy.deepcopy(config.get(name))
    overlay = (config.get("profiles") or {}).get(PROFILE) or {}
    for key, value in overlay.items():
        first, _, rest = key.partition(".")
        if first != name:
            continue
        if not rest:
            out = value
            continue
        node = out
        parts = rest.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out
