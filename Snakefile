# lumabench: Snakemake front-end. All rules live in workflow/; this file only points there.
from snakemake.utils import min_version

min_version("9.0")


include: "workflow/Snakefile"


# Snakemake takes its default target from this file only, so name workflow/'s `all` here.
rule default:
    default_target: True
    input:
        rules.all.input,
