# One job per variant x method x training seed: `lumabench train -v V -m M -s S`. A variant whose
# definition has `model_from: SOURCE` (a test-only change) evaluates SOURCE's model, so its job
# waits for that model; without it (e.g. under DVC) the stage trains the same model itself.
rule train:
    input:
        variant=f"{DATA}/variants/{{variant}}",
        source=lambda w: model_source(w.variant, w.method, w.seed),
    output:
        model=f"{RESULTS}/models/{{variant}}/{{method}}/seed-{{seed}}.pt",
        predictions=f"{RESULTS}/predictions/{{variant}}/{{method}}/seed-{{seed}}.parquet",
        metrics=f"{RESULTS}/metrics/{{variant}}/{{method}}/seed-{{seed}}.json",
    params:
        profile=PROFILE,
        data_seed=config["seed"],
        train=section("train"),
        method=lambda w: section("methods")[w.method],
    log:
        f"{LOGS}/train/{{variant}}/{{method}}/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/train/{{variant}}/{{method}}/seed-{{seed}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu_train=GPU,
    shell:
        "OMP_NUM_THREADS={threads} lumabench --set profile={params.profile} train -v '{wildcards.variant}' -m {wildcards.method} -s {wildcards.seed} > {log} 2>&1"
