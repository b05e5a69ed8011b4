"""Parameters: the base sections are validated even where a profile overlay replaces them, and
every error names the file, the key as written and where to fix it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lumabench.errors import ParamsError
from lumabench.params import load_params

ROOT = Path(__file__).resolve().parents[1]


def _edit(tmp_path: Path, pattern: str, replacement: str) -> Path:
    """A copy of the project's params.yaml with one line changed (the line must exist)."""
    text = (ROOT / "params.yaml").read_text("utf-8")
    new, n = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert n == 1, pattern
    out = tmp_path / "params.yaml"
    out.write_text(new, "utf-8")
    return out


def test_a_base_value_hidden_by_the_overlay_is_still_validated(tmp_path: Path) -> None:
    """`train.lr: fast` passed under `mini` because the overlay sets train.lr; `full` would then fail."""
    path = _edit(tmp_path, r"^  lr: .*$", "  lr: fast")
    with pytest.raises(ParamsError) as info:
        load_params(path)  # mini: the overlay replaces train.lr
    line = info.value.one_line()
    assert line.startswith("invalid parameter train.lr: Input should be a valid number")
    assert "base section" in line and "profiles.mini.train.lr" in line
    assert "file: " + str(path) in line and "fix: edit `params.yaml: train.lr`" in line
    with pytest.raises(ParamsError, match=r"train\.lr"):
        load_params(path, ["profile=full"])


def test_an_overlay_value_names_its_key_in_the_file(tmp_path: Path) -> None:
    path = _edit(tmp_path, r"^      lr: .*$", "      lr: slow")  # profiles.mini.train.lr
    with pytest.raises(ParamsError) as info:
        load_params(path)
    line = info.value.one_line()
    assert "file: " + str(path) in line
    assert "fix: edit `params.yaml: profiles.mini.train.lr`" in line
    assert load_params(path, ["train.lr=0.01"]).train.lr == 0.01  # an explicit --set wins over the overlay
    load_params(path, ["profile=full"])  # the full profile does not apply the broken mini key


def test_an_unknown_overlay_key_names_its_key_in_the_file(tmp_path: Path) -> None:
    path = _edit(tmp_path, r"^      n_mels: 32$", "      n_mel: 32")  # profiles.mini.train
    with pytest.raises(ParamsError, match=r"train\.n_mel: unknown key") as info:
        load_params(path)
    assert "profiles.mini.train.n_mel" in info.value.one_line() and str(path) in info.value.one_line()


def test_an_overlay_key_outside_the_sections_names_the_file(tmp_path: Path) -> None:
    """A profile overrides values inside sections (what DVC tracks per stage), never `seed` itself."""
    path = _edit(tmp_path, r"^    features: \{\}$", "    seed: {n_mels: 32}")  # the first one: profiles.mini
    with pytest.raises(ParamsError, match=r"profiles\.mini\.seed\.n_mels: a profile overrides values inside") as info:
        load_params(path)
    line = info.value.one_line()
    assert "file: " + str(path) in line and "fix: move `profiles.mini.seed.n_mels` into a section" in line


def test_an_overlay_takes_dotted_keys_but_not_one_key_twice(tmp_path: Path) -> None:
    path = _edit(tmp_path, r"^    train:$", "    train.amp_cpu: true\n    train:")
    assert load_params(path).train.amp_cpu is True and load_params(path, ["profile=full"]).train.amp_cpu is False
    path = _edit(tmp_path, r"^    train:$", "    train.max_epochs: 3\n    train:")
    with pytest.raises(ParamsError, match=r"profiles\.mini\.train\.max_epochs is set twice"):
        load_params(path)


def test_a_bad_override_points_at_the_override() -> None:
    with pytest.raises(ParamsError, match=r"fix: correct the override `--set train\.lr=\.\.\.`"):
        load_params(ROOT / "params.yaml", ["train.lr=fast"])


def test_sweep_names_suggest_their_own_levels() -> None:
    variants = load_params(ROOT / "params.yaml").variants
    with pytest.raises(ParamsError) as info:
        variants.resolve("severity")
    assert "e.g. severity-1" in info.value.what and "clean" not in info.value.one_line()
    with pytest.raises(ParamsError, match="did you mean 'label_noise'"):
        variants.resolve("label_nosie")
    with pytest.raises(ParamsError, match=re.escape("use one of: label_sweep-0.1, label_sweep-0.2, label_sweep-0.3")):
        variants.resolve("label_sweep-0.4")
