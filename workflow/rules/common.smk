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


def overlay_leaves(node, prefix=""):
    """(dotted key, value) of every leaf of a profile overlay, as lumabench.params.overlay_leaves."""
    out = []
    for key, value in node.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        out += overlay_leaves(value, dotted) if isinstance(value, dict) else [(dotted, value)]
    return out


def section(name):
    """The params.yaml section `name` with the selected profile's overlay applied.

    Each stage lists it among its params, so a change to the section or to an overlay key
    that touches it makes Snakemake run that stage again.
    """
    import copy

    out = copy.deepcopy(config.get(name))
    for key, value in overlay_leaves((config.get("profiles") or {}).get(PROFILE) or {}):
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
TRAIN_JOBS = RUN.get("train_jobs", "model")
TRAIN_THREADS = int(RUN.get("train_threads", 2))


def methods_for(variant):
    """The methods the grid trains or evaluates on `variant` (`run.variant_methods`, else `run.methods`)."""
    chosen = RUN.get("variant_methods") or {}
    return chosen.get(variant, chosen.get(variant.split("-", 1)[0], METHODS))


CELLS = [(v, m, s) for v in VARIANTS for m in methods_for(v) for s in SEEDS]


def trained(kind, ext):
    """What the report reads: per-variant folders (train_jobs: variant) or one file per grid cell."""
    if TRAIN_JOBS == "variant":
        return [f"{RESULTS}/{kind}/{v}" for v in VARIANTS]
    return [f"{RESULTS}/{kind}/{v}/{m}/seed-{s}.{ext}" for v, m, s in CELLS]


def model_source(variant, method, seed):
    """The model file a job evaluates instead of training ([] when it trains its own): its variant's
    `model_from` source, and for a method with `weights_from` that method's model."""
    base = variant.split("-", 1)[0]
    source = ((config["variants"].get("definitions") or {}).get(base) or {}).get("model_from")
    trainer = section("methods")[method].get("weights_from") or method
    if not source and trainer == method:
        return []
    return [f"{RESULTS}/models/{source or variant}/{trainer}/seed-{seed}.pt"]

def variant_sources(variant):
    """The models folder of the variant a `model_from` variant evaluates ([] when it trains its own)."""
    base = variant.split("-", 1)[0]
    source = ((config["variants"].get("definitions") or {}).get(base) or {}).get("model_from")
    return [f"{RESULTS}/models/{source}"] if source else []


# variants whose models `model_from` variants evaluate
MODEL_SOURCES = {
    d.get("model_from") for d in (config["variants"].get("definitions") or {}).values() if isinstance(d, dict)
} - {None}


def train_priority(variant):
    """Longest jobs first, so that on few cores no long job starts last and runs alone: the model
    sources (the test-only variants wait for them), then the variants that train their own models
    (minutes each), then the test-only variants (seconds each). Their data are built in that order too."""
    if variant in MODEL_SOURCES:
        return 10
    return 0 if variant_sources(variant) else 5
