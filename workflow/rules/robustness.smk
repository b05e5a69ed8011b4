# Train/deploy modality mismatch (McKinzie et al., ICML 2023): `lumabench robustness` trains each
# fused method of params.yaml `robustness` on modality subsets of its variant, deploys every model on
# every subset, and trains the two interventions. Its ordinary models (all three modalities) are the
# train stage's when the grid has them, so the job waits for them; without them it trains the same.
ROBUSTNESS = section("robustness") or {}
ROBUSTNESS_VARIANT = ROBUSTNESS.get("variant", "clean")
# the train stage's models of that variant the stage reuses: its folder (train_jobs: variant) or the
# files of the stage's methods and seeds; none when the grid does not train that variant
ROBUSTNESS_MODELS = (
    []
    if ROBUSTNESS_VARIANT not in VARIANTS
    else [f"{RESULTS}/models/{ROBUSTNESS_VARIANT}"]
    if TRAIN_JOBS == "variant"
    else [
        f"{RESULTS}/models/{ROBUSTNESS_VARIANT}/{m}/seed-{s}.pt"
        for m in [*(ROBUSTNESS.get("methods") or []), *(ROBUSTNESS.get("compare") or [])]
        if m in methods_for(ROBUSTNESS_VARIANT)
        for s in ROBUSTNESS.get("seeds") or SEEDS
        if s in SEEDS
    ]
)


rule robustness:
    input:
        variant=f"{DATA}/variants/{ROBUSTNESS_VARIANT}",
        models=ROBUSTNESS_MODELS,
    output:
        directory(f"{RESULTS}/robustness"),
    params:
        profile=PROFILE,
        data_seed=config["seed"],
        run=RUN,
        train=section("train"),
        methods=section("methods"),
        robustness=section("robustness"),
    log:
        f"{LOGS}/robustness.log",
    benchmark:
        f"{BENCH}/robustness.tsv"
    conda:
        "../envs/torch.yaml"
    threads: TRAIN_THREADS
    resources:
        gpu=GPU,
    shell:
        "OMP_NUM_THREADS={threads} lumabench --set profile={params.profile} robustness > {log} 2>&1"
