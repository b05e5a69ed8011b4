"""`run.seeds`: the training seeds of the grid, validated, with the full profile's overlay applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumabench.errors import ParamsError
from lumabench.params import load_params

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def test_mini_and_full_seeds() -> None:
    mini, full = load_params(PARAMS), load_params(PARAMS, ["profile=full"])
    assert mini.run.seeds == [42] and full.run.seeds == [42, 43, 44]
    # the complete mini grid is one parameter away: without the quick grid's overlay, two seeds
    assert load_params(PARAMS, ["profiles.mini.run={}"]).run.seeds == [42, 43]
    assert mini.seed == full.seed == 42  # the data seed is not a grid axis
    assert load_params(PARAMS, ["profile=full", "run.seeds=[1]"]).run.seeds == [1]  # --set wins over the overlay


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", "run.seeds: seeds must be a non-empty list without repeats"),
        ("[3, 4, 3]", "run.seeds: seeds must be a non-empty list without repeats"),
        ("[-1]", "run.seeds.0: Input should be greater than or equal to 0"),
        ("[1.5]", "run.seeds.0: Input should be a valid integer"),
    ],
)
def test_bad_seeds_are_one_clear_error(value: str, message: str) -> None:
    with pytest.raises(ParamsError) as err:
        load_params(PARAMS, [f"run.seeds={value}"])
    assert message in err.value.one_line()
