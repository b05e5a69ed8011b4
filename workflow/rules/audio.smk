rule audio:
    input:
        f"{DATA}/raw",
    output:
        directory(f"{DATA}/interim/audio"),
    params:
        profile=PROFILE,
        section=section("audio"),
    log:
        f"{LOGS}/audio.log",
    benchmark:
        f"{BENCH}/audio.tsv"
    conda:
        "../envs/data.yaml"
    threads: workflow.cores
    resources:
        gpu=GPU,
    shell:
        "lumabench --set profile={params.profile} audio > {log} 2>&1"
