"""The transformers backend on CPU: a tiny random Gemma and a tokenizer trained here (no download)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lumabench.classes import CLASSES  # noqa: E402
from lumabench.params import Params, Text, load_params  # noqa: E402
from lumabench.paths import Paths  # noqa: E402
from lumabench.schemas import GENERATED  # noqa: E402
from lumabench.text import generate_all, run  # noqa: E402
from lumabench.text.backend import BatchTooLarge, jobs_for  # noqa: E402
from lumabench.text.transformers_backend import RowSampler, TransformersBackend  # noqa: E402
from tiny_models import tiny_gemma  # noqa: E402

CORPUS = [
    "Write a short paragraph describing a horse.",
    "Describe what a dog looks like in a photograph.",
    "Tell a short story in which a cat plays a role.",
    "Write a factual text about a ship.",
    "The horse ran across the green field and the dog barked at the cat.",
    "A ship sails on the blue water with white clouds above.",
] + [f"a {c.name} and an {c.name} with many {c.name}s" for c in CLASSES]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"), CORPUS)


def _cfg(model: Path, **kw: object) -> Text:
    return Text(backend="transformers", model=str(model), max_new_tokens=6, dtype="float32", **kw)


def test_row_sampler_is_per_row_and_respects_top_p() -> None:
    scores = torch.log(torch.tensor([[0.7, 0.2, 0.05, 0.05]] * 2))
    # top_p = 0.5: only the most likely token survives, whatever the noise
    out = RowSampler([1, 2], temperature=1.0, top_p=0.5, device="cpu")(None, scores)
    assert out.argmax(-1).tolist() == [0, 0]
    # each row's draws depend only on its own seed; frequencies follow the distribution
    picks = []
    s = RowSampler([123, 456], temperature=1.0, top_p=1.0, device="cpu")
    for _ in range(800):
        picks.append(s(None, scores).argmax(-1))
    picks_t = torch.stack(picks)
    alone = RowSampler([456], temperature=1.0, top_p=1.0, device="cpu")
    assert torch.equal(torch.stack([alone(None, scores[:1]).argmax(-1)[0] for _ in range(800)]), picks_t[:, 1])
    freq = torch.bincount(picks_t[:, 0], minlength=4).float() / 800
    assert torch.allclose(freq, torch.tensor([0.7, 0.2, 0.05, 0.05]), atol=0.05)


def test_generation_is_seeded_per_text_and_batch_independent(tiny_model: Path) -> None:
    cfg = _cfg(tiny_model, texts_per_class=2)
    backend = TransformersBackend(cfg, device="cpu")
    jobs = jobs_for(cfg, seed=42)[:6]
    batched = backend.generate(jobs)
    assert all(isinstance(t, str) and t for t in batched)
    assert len(set(batched)) > 1  # different seeds, different texts
    assert backend.generate(jobs[3:4]) == batched[3:4]  # regenerated alone: identical
    assert backend.generate(jobs[::-1]) == batched[::-1]  # order and padding do not matter
    other = jobs_for(cfg, seed=7)[:6]
    assert backend.generate(other) != batched


def test_stage_with_tiny_gemma_resumes_and_halves_on_oom(tiny_model: Path, tmp_path: Path, root: Path) -> None:
    over = [
        "text.backend=transformers",
        f"text.model={tiny_model}",
        "text.max_new_tokens=5",
        "text.dtype=float32",
        "text.texts_per_class=1",
        "text.batch_size=16",
    ]
    params: Params = load_params(root / "params.yaml", over)
    backend = TransformersBackend(params.text, device="cpu")
    whole = Paths(tmp_path / "a", "mini")
    run(params, whole, backend=backend)
    t = pq.read_table(whole.generated)
    assert t.schema.equals(GENERATED) and t.num_rows == len(CLASSES)
    assert set(t.column("backend").to_pylist()) == {"transformers"}

    class OomAbove4:
        name, model = backend.name, backend.model

        def __init__(self) -> None:
            self.calls = 0

        def fingerprint(self) -> dict[str, object]:
            return backend.fingerprint()

        def generate(self, jobs):  # type: ignore[no-untyped-def]
            self.calls += 1
            if len(jobs) > 4:
                raise BatchTooLarge("CUDA out of memory")
            if self.calls == 6:
                raise KeyboardInterrupt  # the run is killed part-way
            return backend.generate(jobs)

    other = Paths(tmp_path / "b", "mini")
    with pytest.raises(KeyboardInterrupt):
        run(params, other, backend=OomAbove4())
    run(params, other, backend=backend)
    assert other.generated.read_bytes() == whole.generated.read_bytes()


def test_unloadable_model_is_one_clear_error(tmp_path: Path) -> None:
    from lumabench.errors import DownloadError

    with pytest.raises(DownloadError, match="could not load model"):
        TransformersBackend(_cfg(tmp_path / "nothing-here"), device="cpu")


def test_generate_all_orders_rows_like_jobs(tiny_model: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_model, texts_per_class=1)
    backend = TransformersBackend(cfg, device="cpu")
    jobs = jobs_for(cfg, 1)[:5]
    table = generate_all(jobs, backend, tmp_path / "p", batch_size=2)
    assert table.column("text_id").to_pylist() == [j.text_id for j in jobs]
    assert len(list((tmp_path / "p").glob("part-*.parquet"))) == 3
