rule train:
    input:
        f"{DATA}/variants/{{variant}}",
    output:
        model=f"{RESULTS}/models/{{variant}}/{{method}}.pt",
        predictions=f"{RESULTS}/predictions/{{variant}}/{{method}}.parquet",
        metrics=f"{RESULTS}/metrics/{{variant}}/{{method}}.json",
    params:
        profile=PROFILE,
        train=section("train"),
        method=lambda w: section("methods")[w.method],
    log:
        f"{LOGS}/train/{{variant}}/{{method}}.log",
    benchmark:
        f"{BENCH}/train/{{variant}}/{{method}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu_train=GPU,
    shell:
        "OMP_NUM_THREADS={threads} lumabench --set profile={params.profile} train -v '{wildcards.variant}' -m {wildcards.method} > {log} 2>&1"
