# Training, by `run.train_jobs`:
#   variant (mini default): one job per variant, `lumabench train -v V`, trains every method x seed of
#     the grid in one process over the variant's tensors (no start-up and data loading per model);
#   model: one job per variant x method x seed, `lumabench train -v V -m M -s S` (a cluster, a GPU
#     that runs several jobs at once).
# A variant whose definition has `model_from: SOURCE` (a test-only change) evaluates SOURCE's
# models, so its job waits for them; without them (e.g. under DVC) it trains the same models itself.
if TRAIN_JOBS == "variant":

    rule train:
        input:
            variant=f"{DATA}/variants/{{variant}}",
            source=lambda w: variant_sources(w.variant),
        output:
            models=directory(f"{RESULTS}/models/{{variant}}"),
            predictions=directory(f"{RESULTS}/predictions/{{variant}}"),
            metrics=directory(f"{RESULTS}/metrics/{{variant}}"),
        params:
            profile=PROFILE,
            data_seed=config["seed"],
            train=section("train"),
            methods=lambda w: {m: section("methods")[m] for m in methods_for(w.variant)},
            seeds=SEEDS,
        log:
            f"{LOGS}/train/{{variant}}.log",
        benchmark:
            f"{BENCH}/train/{{variant}}.tsv"
        conda:
            "../envs/torch.yaml"
        threads: TRAIN_THREADS
        resources:
            gpu_train=GPU,
        # clean first (it unblocks the test-only variants), then the other trained variants
        priority: lambda w: train_priority(w.variant)
        shell:
            "OMP_NUM_THREADS={threads} lumabench --set profile={params.profile} train -v '{wildcards.variant}' > {log} 2>&1"


else:

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
        threads: TRAIN_THREADS
        resources:
            gpu_train=GPU,
        shell:
            "OMP_NUM_THREADS={threads} lumabench --set profile={params.profile} train -v '{wildcards.variant}' -m {wildcards.method} -s {wildcards.seed} > {log} 2>&1"
