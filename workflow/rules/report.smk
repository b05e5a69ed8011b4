rule report:
    input:
        metrics=trained("metrics", "json"),
        predictions=trained("predictions", "parquet"),
        robustness=f"{RESULTS}/robustness",
    output:
        tables=directory(f"{RESULTS}/tables"),
        figures=directory(f"{RESULTS}/figures"),
        metrics=f"{RESULTS}/metrics.json",
        html=f"{RESULTS}/report.html",
    params:
        profile=PROFILE,
        section=section("report"),
        run=RUN,
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    conda:
        "../envs/report.yaml"
    threads: workflow.cores
    resources:
        mlflow_db=1,
    shell:
        "lumabench --set profile={params.profile} report > {log} 2>&1 && tail -n 40 {log}"
