"""The CUDA paths: training (bf16 autocast, CUDA graphs), the grouped ensemble, the CTC aligner, text generation.

Skipped where no CUDA device is visible (CI has none); run on a GPU machine with
`pytest tests/test_cuda.py`. Each test compares the GPU result with the CPU one or checks numbers
the GPU run must reach, so a broken CUDA path fails rather than merely running.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lumabench import classes
from lumabench.data import Normaliser, SplitTensors
from lumabench.determinism import deterministic
from lumabench.methods.registry import load_all
from lumabench.params import MODALITIES, Train
from lumabench.params import Method as MethodSpec
from lumabench.train import score
from tiny_models import tiny_gemma, tiny_wav2vec2

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")
CPU = torch.device("cpu")
CFG = Train(n_mels=32, frames=32, batch_size=64, lr=1e-3, max_epochs=8, early_stopping_patience=3)
N_CLASSES = 10  # first ten in-distribution classes: enough to see learning, quick to train


def _split(n: int, seed: int, ood: bool = False) -> SplitTensors:
    """Rows carrying a noisy class prototype in every modality (learnable, far from trivial)."""
    g = torch.Generator().manual_seed(1234)
    protos = {
        "image": torch.rand(50, 3, 4, 4, generator=g),
        "audio": torch.randn(50, 1, 8, 8, generator=g),
        "text": torch.randn(50, 32, generator=g),
    }
    g = torch.Generator().manual_seed(seed)
    ids = classes.N_ID + torch.arange(n) % 8 if ood else torch.arange(n) % N_CLASSES
    img = torch.nn.functional.interpolate(protos["image"][ids], size=32, mode="nearest")
    img = (img + 2.0 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    mel = torch.nn.functional.interpolate(protos["audio"][ids], size=(32, 32), mode="nearest")
    return SplitTensors(
        sample_id=[str(i) for i in range(n)],
        label=[classes.CLASSES[int(i)].name for i in ids],
        class_id=ids.clone(),
        image=(img * 255).round().to(torch.uint8),
        audio=(mel + 10.0 * torch.randn(mel.shape, generator=g)).half(),
        text=protos["text"][ids] + 10.0 * torch.randn(n, 32, generator=g),
        present=torch.ones(n, len(MODALITIES), dtype=torch.bool),
    )


def _fit_predict(kind: str, device: torch.device, cfg: Train = CFG, out: list | None = None) -> dict:
    spec = MethodSpec(kind=kind, modalities=["image", "audio", "text"], samples=10, members=3, sigma_samples=10)
    train, val, test, ood = _split(640, 1), _split(160, 2), _split(200, 3), _split(200, 4, ood=True)
    norm = Normaliser.fit(train, cfg)
    with deterministic():
        method = load_all()[kind](spec, cfg, classes.N_ID, 32, device, 42, ("cuda-test", kind))
        if out is not None:
            out.append(method)
        report = method.fit(train.to(device), val.to(device), norm)
        pt = method.predict_split(test.to(device), "test")
        again = method.predict_split(test.to(device), "test")
        po = method.predict_split(ood.to(device), "ood")
    assert torch.equal(pt.probs, again.probs), "prediction must be seeded (same purpose, same draws)"
    for p in (pt, po):
        assert torch.allclose(p.probs.sum(1), torch.ones(len(p.probs)), atol=1e-3)
        for u in (p.aleatoric, p.epistemic, p.total):
            assert torch.isfinite(u).all() and (u >= -1e-4).all()
    return {"report": report, **score(test, ood, pt, po)}


@pytest.mark.parametrize("kind", ["mc_dropout", "deep_ensemble", "rcml"])
def test_training_on_cuda_learns_like_on_cpu(kind: str) -> None:
    gpu = _fit_predict(kind, CUDA)
    cpu = _fit_predict(kind, CPU)
    chance = 1 / N_CLASSES
    assert gpu["test"]["acc"] > 4 * chance, gpu["test"]
    assert abs(gpu["test"]["acc"] - cpu["test"]["acc"]) < 0.12, (gpu["test"]["acc"], cpu["test"]["acc"])
    assert gpu["ood"]["auroc_epistemic"] > 0.5


@pytest.mark.parametrize("kind", ["mc_dropout", "deep_ensemble", "rcml"])
def test_cuda_graph_training_learns_like_eager(kind: str) -> None:
    """`train.cuda_graphs`: the step is really replayed, and the model learns as the eager loop does."""
    methods: list = []
    graphed = _fit_predict(kind, CUDA, CFG.model_copy(update={"cuda_graphs": True}), methods)
    eager = _fit_predict(kind, CUDA)
    g = methods[0].graphed
    assert g is not None and not g.failed
    epochs = graphed["report"].epochs
    # 640 rows, batch 64: 10 full batches per epoch, 3 of them warm-up in the first epoch
    assert g.replays == 10 * epochs - 3 and g.eager_steps == 0
    # RCML's KL weight changes every epoch (annealed over 50): one capture per epoch
    assert g.captures == (epochs if kind == "rcml" else 1)
    assert graphed["test"]["acc"] > 4 / N_CLASSES, graphed["test"]
    assert abs(graphed["test"]["acc"] - eager["test"]["acc"]) < 0.12, (graphed["test"], eager["test"])
    assert graphed["ood"]["auroc_epistemic"] > 0.5


def test_cuda_graph_step_sees_the_reduced_learning_rate() -> None:
    """ReduceLROnPlateau writes the tensor lr in place; a replayed Adam step must use the new value."""
    net = torch.nn.Linear(4, 1).to(CUDA)
    lr = torch.tensor(0.1, device=CUDA)
    opt = torch.optim.Adam(net.parameters(), lr=lr, fused=True, capturable=True)
    x = torch.randn(8, 4, device=CUDA)

    def step(idx: torch.Tensor, epoch: int) -> None:
        opt.zero_grad(set_to_none=True)
        net(x[idx]).sum().backward()
        opt.step()

    from lumabench.methods.cuda_graph import GraphedStep

    g = GraphedStep(step, opt, warmup=2)
    idx = torch.arange(8, device=CUDA)
    for _ in range(4):
        g(idx, 1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    sched.step(1.0)
    sched.step(2.0)  # no improvement: lr 0.1 -> 0.05
    assert abs(float(lr) - 0.05) < 1e-7
    before = net.bias.detach().clone()
    g(idx, 1)
    # Adam's first steps move each weight by about lr: the replayed step moved the bias by ~0.05
    moved = float((net.bias.detach() - before).abs())
    assert g.replays == 3 and 0.03 < moved < 0.07, moved


def test_grouped_ensemble_equals_each_member_on_cuda() -> None:
    from lumabench.models.encoders import MultiModalNet
    from lumabench.models.ensemble import EnsembleNet

    mods = ["image", "audio", "text"]
    nets = []
    for i in range(3):
        torch.manual_seed(i)
        nets.append(MultiModalNet(mods, 42, 0.3, 16, True, (32, 32)).eval())
    ens = EnsembleNet(nets).to(CUDA).eval()
    g = torch.Generator().manual_seed(0)
    x = {
        "image": torch.randn(3, 4, 3, 32, 32, generator=g),
        "audio": torch.randn(3, 4, 1, 32, 32, generator=g),
        "text": torch.randn(3, 4, 16, generator=g),
    }
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32 matmuls, restored below
    try:
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, deterministic=True, allow_tf32=False):
            z, s = ens({m: v.to(CUDA) for m, v in x.items()}, per_member=True)
            for i, net in enumerate(nets):
                zc, sc = net({m: v[i] for m, v in x.items()})
                assert torch.allclose(z[i].cpu(), zc, atol=1e-4) and torch.allclose(s[i].cpu(), sc, atol=1e-4)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def test_ctc_aligner_on_cuda_matches_cpu() -> None:
    torchaudio = pytest.importorskip("torchaudio")
    from lumabench.audio.align_ctc import CtcAligner

    labels = tuple(torchaudio.pipelines.WAV2VEC2_ASR_BASE_960H.get_labels())
    model = tiny_wav2vec2(len(labels))
    t = np.arange(16000) / 16000
    audio = np.concatenate([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    spans = {}
    for dev in ("cpu", "cuda"):
        aligner = object.__new__(CtcAligner)
        aligner.device, aligner.labels, aligner.model = dev, labels, model.to(dev)
        spans[dev] = aligner.align(audio, ["cat", "dog"], np.random.default_rng(0))
    assert [s.word for s in spans["cuda"]] == ["cat", "dog"]
    for a, b in zip(spans["cpu"], spans["cuda"], strict=True):
        assert abs(a.start_s - b.start_s) <= 0.021 and abs(a.end_s - b.end_s) <= 0.021  # one 20 ms frame


def test_text_generation_on_cuda_is_seeded_per_text(tmp_path) -> None:
    pytest.importorskip("transformers")
    from lumabench.params import Text
    from lumabench.text.backend import jobs_for
    from lumabench.text.transformers_backend import TransformersBackend

    corpus = ["Write a short paragraph describing a horse.", "A ship sails on the blue water."] + [
        f"a {c.name} and many {c.name}s" for c in classes.CLASSES
    ]
    tiny_gemma(tmp_path, corpus)
    for dtype in ("float32", "bfloat16"):
        cfg = Text(backend="transformers", model=str(tmp_path), max_new_tokens=6, dtype=dtype, texts_per_class=2)
        backend = TransformersBackend(cfg, device="cuda")
        jobs = jobs_for(cfg, seed=42)[:6]
        batched = backend.generate(jobs)
        assert all(isinstance(t, str) and t for t in batched) and len(set(batched)) > 1
        if dtype == "float32":  # bf16 rounding may differ with padding; float32 must not
            assert backend.generate(jobs[3:4]) == batched[3:4]
