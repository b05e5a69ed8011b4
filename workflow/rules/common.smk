# Shared names for every stage: profile, output roots, the variant x method x seed grid.
PROFILE = config["profile"]
DATA = f"data/{PROFILE}"
RESULTS = f"results/{PROFILE}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
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


def run_section():
    """The grid (`run`) with the profile's `run.*` overlay keys applied, as `lumabench` sees it."""
    return section("run")


RUN = run_section()
VARIANTS = RUN["variants"]
METHODS = RUN["methods"]
SEEDS = RUN["seeds"]


def model_source(variant, method, seed):
    """The model file a `model_from` variant evaluates ([] when the variant trains its own)."""
    base = variant.split("-", 1)[0]
    source = ((config["variants"].get("definitions") or {}).get(base) or {}).get("model_from")
    if not source:
        return []
    return [f"{RESULTS}/models/{source}/{method}/seed-{seed}.pt"]
