# The human decisions annotate reads (`annotate.overrides` with the profile's overlay), when set:
# an input, so a decision written by `lumabench label` re-runs annotate and what depends on it;
# dvc.yaml declares the same file (annotations/<profile>.csv).
OVERRIDES = section("annotate").get("overrides") or []


rule annotate:
    input:
        f"{DATA}/raw",
        f"{DATA}/interim/audio",
        f"{DATA}/interim/text/generated.parquet",
        OVERRIDES,
    output:
        directory(f"{DATA}/interim/accepted"),
    params:
        profile=PROFILE,
        section=section("annotate"),
    log:
        f"{LOGS}/annotate.log",
    benchmark:
        f"{BENCH}/annotate.tsv"
    conda:
        "../envs/data.yaml"
    threads: workflow.cores
    shell:
        "lumabench --set profile={params.profile} annotate > {log} 2>&1"


rule features:
    input:
        f"{DATA}/interim/accepted",
    output:
        directory(f"{DATA}/interim/features"),
    params:
        profile=PROFILE,
        section=section("features"),
    log:
        f"{LOGS}/features.log",
    benchmark:
        f"{BENCH}/features.tsv"
    conda:
        "../envs/torch.yaml"
    threads: workflow.cores
    resources:
        gpu=GPU,
    shell:
        "lumabench --set profile={params.profile} features > {log} 2>&1"
