rule report:
    input:
        metrics=expand(f"{RESULTS}/metrics/{{variant}}/{{method}}.json", variant=VARIANTS, method=METHODS),
        predictions=expand(f"{RESULTS}/predictions/{{variant}}/{{method}}.parquet", variant=VARIANTS, method=METHODS),
    output:
        tables=directory(f"{RESULTS}/tables"),
        figures=directory(f"{RESULTS}/figures"),
        metrics=f"{RESULTS}/metrics.json",
        html=f"{RESULTS}/report.html",
    params:
        profile=PROFILE,
        section=section("report"),
        run=config["run"],
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    conda:
        "../envs/report.yaml"
    resources:
        mlflow_db=1,
    shell:
        "lumabench --set profile={params.profile} report > {log} 2>&1 && tail -n 40 {log}"
