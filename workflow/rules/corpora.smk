rule corpora:
    output:
        directory(f"{DATA}/raw"),
    params:
        profile=PROFILE,
        section=section("corpora"),
    log:
        f"{LOGS}/corpora.log",
    benchmark:
        f"{BENCH}/corpora.tsv"
    conda:
        "../envs/data.yaml"
    threads: workflow.cores
    shell:
        "lumabench --set profile={params.profile} corpora > {log} 2>&1"
