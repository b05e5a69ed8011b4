"""The report reads one result per variant x method x training seed, and names a missing seed's fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lumabench.errors import InputError
from lumabench.report.collect import collect
from test_report_fixture import make_params, make_results

VARIANTS, METHODS, SEEDS = ["clean", "severity-3"], ["mcd_image", "rcml_fused"], [42, 43, 7]


def test_one_result_per_variant_method_seed_in_params_order(tmp_path: Path) -> None:
    fx = make_results(tmp_path, make_params(VARIANTS, METHODS, SEEDS), sheet=False)
    results = collect(fx.params, fx.paths)
    assert [(r.variant.name, r.method, r.seed) for r in results] == [
        (v, m, s) for v in VARIANTS for m in METHODS for s in SEEDS
    ]
    assert results[2].key == "clean/mcd_image/seed-7" and len({r.key for r in results}) == len(results)
    for r in results:
        assert r.metrics["seed"] == r.seed and r.metrics["data_seed"] == fx.params.seed
        assert r.predictions_path == fx.paths.predictions(r.variant.name, r.method, r.seed)
    # the fixture keys predictions by training seed: the seeds of one cell are different runs
    accs = {r.seed: r.value("test", "acc") for r in results if r.key.startswith("clean/mcd_image/")}
    assert len(set(accs.values())) == len(SEEDS)


def test_missing_seed_file_is_one_line_naming_the_train_call(tmp_path: Path) -> None:
    fx = make_results(tmp_path, make_params(VARIANTS, METHODS, SEEDS), sheet=False)
    fx.paths.metrics("severity-3", "rcml_fused", 43).unlink()
    with pytest.raises(InputError) as err:
        collect(fx.params, fx.paths)
    line = err.value.one_line()
    assert "\n" not in line
    assert "metrics/severity-3/rcml_fused/seed-43.json" in line
    assert "fix: run `lumabench train -v severity-3 -m rcml_fused -s 43`" in line
    fx = make_results(tmp_path / "p", make_params(VARIANTS, METHODS, SEEDS), sheet=False)
    fx.paths.predictions("clean", "mcd_image", 7).unlink()
    with pytest.raises(InputError, match=r"missing predictions.*seed-7\.parquet.*-m mcd_image -s 7`"):
        collect(fx.params, fx.paths)


def test_metrics_of_another_seed_are_refused(tmp_path: Path) -> None:
    fx = make_results(tmp_path, make_params(["clean"], ["mcd_image"], [42, 43]), sheet=False)
    wrong = fx.paths.metrics("clean", "mcd_image", 43)
    shutil.copyfile(fx.paths.metrics("clean", "mcd_image", 42), wrong)  # seed 42's run under seed 43's name
    with pytest.raises(InputError, match=r"says seed 42, expected training seed 43.*seed-43\.json"):
        collect(fx.params, fx.paths)
    data = json.loads(wrong.read_text())
    del data["seed"]  # written before training seeds existed: which seed it holds is unknown
    wrong.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"says seed None, expected training seed 43"):
        collect(fx.params, fx.paths)
