rule text:
    input:
        f"{DATA}/raw",
    output:
        f"{DATA}/interim/text/generated.parquet",
    params:
        profile=PROFILE,
        section=section("text"),
    log:
        f"{LOGS}/text.log",
    benchmark:
        f"{BENCH}/text.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=GPU,
    shell:
        "lumabench --set profile={params.profile} text > {log} 2>&1"
