# Shared names for every rule file: profile, output roots, the variant x method grid.
PROFILE = config["profile"]
DATA = f"data/{PROFILE}"
RESULTS = f"results/{PROFILE}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
VARIANTS = config["run"]["variants"]
METHODS = config["run"]["methods"]
# GPU rules ask for one GPU only in the full profile; the mini profile runs on CPU.
GPU = 1 if PROFILE == "full" else 0


wildcard_constraints:
    variant=r"[^/]+",
    method=r"[A-Za-z0-9_]+",
