rule variants:
    input:
        f"{DATA}/raw",
        f"{DATA}/interim/accepted",
        f"{DATA}/interim/features",
    output:
        directory(f"{DATA}/variants/{{variant}}"),
    params:
        profile=PROFILE,
        section=section("variants"),
    log:
        f"{LOGS}/variants/{{variant}}.log",
    benchmark:
        f"{BENCH}/variants/{{variant}}.tsv"
    conda:
        "../envs/data.yaml"
    # the variants that train first: their training jobs are the longest
    priority: lambda w: train_priority(w.variant)
    shell:
        "lumabench --set profile={params.profile} variants -v '{wildcards.variant}' > {log} 2>&1"
