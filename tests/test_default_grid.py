"""The quick default grid (`profiles.mini.run`) keeps what the default run promises (docs/default-run.md):
every method, every variant family, the severity and label-rate sweeps with three levels or more,
no test-only variant that trains, and the complete grid one parameter away."""

from __future__ import annotations

from pathlib import Path

from lumabench.params import LEVEL_SEP, load_params

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
FAMILIES = {"clean", "diversity", "sample_noise", "label_noise", "conflict", "missing", "joint"}
KINDS = {"mc_dropout", "deep_ensemble", "rcml", "eau", "mla"}


def _base(variant: str) -> str:
    return variant.partition(LEVEL_SEP)[0]


def test_every_method_and_family_is_in_the_default_run() -> None:
    p = load_params(PARAMS)
    grid = p.run.all_methods()
    # the nine LUMA baselines (MC Dropout and Deep Ensemble per modality and fused, RCML), EAU, MLA
    assert set(p.run.methods) <= set(grid)
    assert {p.methods[m].kind for m in grid} == KINDS
    assert set(p.run.methods_for("clean")) == set(grid)  # every method of the run has clean's model
    families = {p.variants.definitions[_base(v)].family for v in p.run.variants}
    assert families == FAMILIES
    for sweep in ("severity", "label_sweep"):
        levels = [v for v in p.run.variants if _base(v) == sweep]
        assert len(levels) >= 3, sweep


def test_no_test_only_variant_trains_a_model() -> None:
    """A `model_from` variant evaluates its source's models: each of its methods (or the method it
    takes weights from) is trained on the source, so its train job only evaluates."""
    p = load_params(PARAMS)
    for v in p.run.variants:
        src = getattr(p.variants.definitions[_base(v)], "model_from", None)
        trained_here = {p.methods[m].weights_from or m for m in p.run.methods_for(v)}
        if src is not None:
            assert src in p.run.variants
            assert trained_here <= set(p.run.methods_for(src)), v
        # a `weights_from` entry loads a model this variant trains
        assert trained_here <= set(p.run.methods_for(v)), v


def test_the_complete_grid_is_one_parameter_away() -> None:
    quick = load_params(PARAMS)
    complete = load_params(PARAMS, ["profiles.mini.run={}"])
    assert len(complete.run.seeds) > len(quick.run.seeds)
    assert quick.run.variants == complete.run.variants  # DVC's stages iterate over the list as written
    cells = {(v, m) for v in quick.run.variants for m in quick.run.methods_for(v)}
    more = {(v, m) for v in complete.run.variants for m in complete.run.methods_for(v)}
    assert cells < more
    for v in ("diversity", "sample_noise", "label_sweep-0.3"):
        assert complete.run.methods_for(v) == complete.run.methods
    # the full profile keeps the complete grid and its own seeds
    full = load_params(PARAMS, ["profile=full"])
    assert full.run.variant_methods == complete.run.variant_methods and len(full.run.seeds) == 3
