"""The method contract on small random tensors: registry, shapes, losses, fusion, ensemble independence."""

from __future__ import annotations

import math
import typing

import pytest
import torch

from lumabench.data import Batch
from lumabench.methods.base import Prediction
from lumabench.methods.losses import dirichlet_kl_uniform, edl_digamma_loss, heteroscedastic_nll
from lumabench.methods.registry import load_all
from lumabench.models.encoders import audio_encoder, image_encoder, text_encoder
from lumabench.models.fusion import conflictive_degree, masked_mean
from lumabench.params import Method as MethodSpec
from lumabench.params import Train

C = 42
MODS = ["image", "audio", "text"]
CFG = Train(n_mels=32, frames=32, batch_size=8)


def _method(kind: str, **spec: object):
    full = {"kind": kind, "modalities": MODS, "samples": 4, "members": 3, "sigma_samples": 5, **spec}
    cls = load_all()[kind]
    return cls(MethodSpec(**full), CFG, C, 16, torch.device("cpu"), 7, ("v", kind))


def _batch(b: int = 5, lead: tuple[int, ...] = (), seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    shape = (*lead, b)
    inputs = {
        "image": torch.randn(*shape, 3, 32, 32, generator=g),
        "audio": torch.randn(*shape, 1, 32, 32, generator=g),
        "text": torch.randn(*shape, 16, generator=g),
    }
    mask = torch.ones(*shape, 3, dtype=torch.bool)
    return Batch(inputs, mask, torch.randint(0, 5, shape, generator=g))


def test_registry_matches_params_literal() -> None:
    allowed = set(typing.get_args(MethodSpec.model_fields["kind"].annotation))
    assert set(load_all()) == allowed == {"mc_dropout", "deep_ensemble", "rcml", "eau", "mla"}


@pytest.mark.parametrize("kind", ["mc_dropout", "deep_ensemble", "rcml"])
def test_contract_shapes_and_ranges(kind: str) -> None:
    m = _method(kind)
    lead = (3,) if kind == "deep_ensemble" else ()
    loss = m.loss(_batch(lead=lead), epoch=1)
    assert loss.shape == (m.streams,) and torch.isfinite(loss).all()
    loss.sum().backward()
    m.module.eval()
    with torch.no_grad():
        p = m.predict(_batch(b=6, seed=1))
    assert isinstance(p, Prediction)
    assert p.probs.shape == (6, C)
    assert torch.allclose(p.probs.sum(1), torch.ones(6), atol=1e-5)
    for u in (p.aleatoric, p.epistemic, p.total):
        assert u.shape == (6,) and torch.isfinite(u).all() and (u >= 0).all()
    assert set(p.per_modality) == set(MODS)
    # one decomposition for every method: total = aleatoric + epistemic (DESIGN §5b)
    assert torch.allclose(p.total, p.aleatoric + p.epistemic, atol=1e-5)
    if kind == "rcml":
        assert set(p.extras) == {"vacuity"} and p.extras["vacuity"].shape == (6,)
        assert all(set(q.extras) == {"vacuity"} for q in p.per_modality.values())
    else:
        assert p.extras == {}


def test_unimodal_has_no_per_modality_outputs() -> None:
    m = _method("mc_dropout", modalities=["text"])
    b = _batch()
    b = Batch({"text": b.inputs["text"]}, b.mask[:, 2:], b.labels)
    with torch.no_grad():
        assert m.predict(b).per_modality == {}


def test_missing_everything_gives_uniform_prediction() -> None:
    m = _method("mc_dropout")
    b = _batch(b=2)
    b.mask[0] = False
    with torch.no_grad():
        p = m.predict(b)
    assert torch.allclose(p.probs[0], torch.full((C,), 1 / C), atol=1e-6)
    assert p.total[0].item() == pytest.approx(math.log(C), abs=1e-5)
    r = _method("rcml")
    with torch.no_grad():
        q = r.predict(b)
    assert q.extras["vacuity"][0].item() == pytest.approx(1.0)  # no evidence at all: full vacuity


def test_missing_modality_is_dropped_from_fusion() -> None:
    x = torch.tensor([[[1.0, 0.0]], [[3.0, 2.0]], [[100.0, 100.0]]])  # [V=3, N=1, C=2]
    mask = torch.tensor([[True, True, False]])
    assert torch.allclose(masked_mean(x, mask), torch.tensor([[2.0, 1.0]]))


def test_conflictive_degree_by_hand() -> None:
    alpha = torch.tensor([[[9.0, 1.0]], [[1.0, 9.0]]])  # two views, opposite beliefs, S = 10
    # projected distance 0.8, certainty 1 - 2/10 = 0.8 each: c = 0.8 * 0.64; 2 ordered pairs / (2 - 1)
    cd = conflictive_degree(alpha, torch.tensor([[True, True]]))
    assert cd.item() == pytest.approx(2 * 0.8 * 0.64)
    assert conflictive_degree(alpha, torch.tensor([[True, False]])).item() == 0.0
    assert conflictive_degree(alpha[[0, 0]], torch.tensor([[True, True]])).item() == pytest.approx(0.0)


def test_evidential_loss_by_hand() -> None:
    alpha = torch.tensor([[3.0, 1.0, 1.0]])
    y = torch.tensor([0])
    expected = torch.digamma(torch.tensor(5.0)) - torch.digamma(torch.tensor(3.0))
    assert edl_digamma_loss(alpha, y, 0.0).item() == pytest.approx(expected.item(), abs=1e-6)
    # the KL term only sees the evidence on wrong classes, here none
    assert edl_digamma_loss(alpha, y, 1.0).item() == pytest.approx(expected.item(), abs=1e-6)
    assert dirichlet_kl_uniform(torch.ones(1, 4)).item() == pytest.approx(0.0, abs=1e-6)
    assert edl_digamma_loss(torch.tensor([[1.0, 4.0, 1.0]]), y, 1.0) > edl_digamma_loss(
        torch.tensor([[1.0, 4.0, 1.0]]), y, 0.0
    )


def test_heteroscedastic_nll_zero_sigma_is_cross_entropy() -> None:
    z = torch.randn(4, 6)
    y = torch.tensor([0, 1, 2, 3])
    ce = torch.nn.functional.cross_entropy(z, y, reduction="none")
    assert torch.allclose(heteroscedastic_nll(z, torch.zeros_like(z), y, 3), ce, atol=1e-6)


@pytest.mark.parametrize(
    "enc,shape",
    [(image_encoder(C, 0.0), (3, 32, 32)), (audio_encoder(C, 0.0), (1, 128, 128)), (text_encoder(C, 0.0, 768), (768,))],
)
def test_stem_repeat_equals_repeated_input(enc: torch.nn.Module, shape: tuple[int, ...]) -> None:
    x = torch.randn(2, *shape)
    with torch.no_grad():
        z1, s1 = enc(x, repeat=3)
        z2, s2 = enc(x.repeat(3, *([1] * len(shape))))
    assert z1.shape == (6, C)
    assert torch.allclose(z1, z2, atol=1e-5) and torch.allclose(s1, s2, atol=1e-5)


def test_reference_flatten_sizes() -> None:
    assert image_encoder(C, 0.3).head.in_features == 2304
    assert audio_encoder(C, 0.3).head.in_features == 12544
    assert text_encoder(C, 0.3, 768).head.in_features == 256


def test_ensemble_members_are_independent() -> None:
    m = _method("deep_ensemble", modalities=["text"])
    params = dict(m.module.named_parameters())
    w = params["encoders.text.head.weight"]
    assert not torch.allclose(w[0], w[1])  # each member its own init
    b = _batch(lead=(3,))
    b = Batch({"text": b.inputs["text"]}, b.mask[..., 2:], b.labels)
    losses = m.loss(b, epoch=1)
    losses[0].backward()
    for v in m.module.parameters():
        assert v.grad is None or (v.grad[1:] == 0).all()
    assert any(v.grad is not None and v.grad[0].abs().sum() > 0 for v in m.module.parameters())


def test_same_seed_same_init_different_key_different_init() -> None:
    a, b = _method("mc_dropout"), _method("mc_dropout")
    for (_, x), (_, y) in zip(a.module.state_dict().items(), b.module.state_dict().items(), strict=True):
        assert torch.equal(x, y)
    cls = load_all()["mc_dropout"]
    spec = MethodSpec(kind="mc_dropout", modalities=MODS)
    c = cls(spec, CFG, C, 16, torch.device("cpu"), 7, ("other", "m"))
    assert not torch.equal(next(iter(a.module.state_dict().values())), next(iter(c.module.state_dict().values())))


@pytest.mark.parametrize("mods", [["image", "audio", "text"], ["audio"]])
def test_grouped_ensemble_equals_each_member_alone(mods: list[str]) -> None:
    from lumabench.models.encoders import MultiModalNet
    from lumabench.models.ensemble import EnsembleNet

    nets = []
    for i in range(3):
        torch.manual_seed(i)
        nets.append(MultiModalNet(mods, C, 0.3, 16, True, (32, 32)).eval())
    ens = EnsembleNet(nets).eval()
    b = _batch(b=4)
    per = _batch(b=4, lead=(3,), seed=1)
    with torch.no_grad():
        shared_z, shared_s = ens({m: b.inputs[m] for m in mods}, per_member=False)
        own_z, own_s = ens({m: per.inputs[m] for m in mods}, per_member=True)
        for i, net in enumerate(nets):
            z, s = net({m: b.inputs[m] for m in mods})
            assert torch.allclose(shared_z[i], z, atol=1e-4) and torch.allclose(shared_s[i], s, atol=1e-4)
            z, s = net({m: per.inputs[m][i] for m in mods})
            assert torch.allclose(own_z[i], z, atol=1e-4) and torch.allclose(own_s[i], s, atol=1e-4)


@pytest.mark.parametrize("per_member", [True, False])
def test_grouped_conv_path_equals_member_path(per_member: bool) -> None:
    """The CUDA layout (one grouped convolution) and the CPU layout (member by member) agree."""
    from lumabench.models.encoders import MultiModalNet
    from lumabench.models.ensemble import EnsembleNet

    nets = []
    for i in range(3):
        torch.manual_seed(10 + i)
        nets.append(MultiModalNet(["image", "audio"], C, 0.3, 16, True, (32, 32)).eval())
    ens = EnsembleNet(nets).eval()
    lead = (3,) if per_member else ()
    b = _batch(b=4, lead=lead, seed=2)
    with torch.no_grad():
        for m in ("image", "audio"):
            enc = ens.encoders[m]
            grouped = enc._grouped(b.inputs[m], per_member)
            members = enc._conv_members(b.inputs[m], per_member)
            assert grouped.shape == members.shape == (3, 4, grouped.shape[-1])
            assert torch.allclose(grouped, members, atol=1e-4)


def test_ensemble_members_convolve_channels_last_like_a_single_network() -> None:
    """Each member's conv weight is channels-last even with one input channel (the audio encoder),
    so every member's activations keep the fast layout of a single network; a contiguous weight of
    one input channel turned the whole audio stack contiguous (and 1.8x slower on CPU)."""
    from lumabench.models.encoders import MultiModalNet
    from lumabench.models.ensemble import EnsembleConv2d, EnsembleNet, member_channels_last

    nets = [MultiModalNet(["image", "audio"], C, 0.3, 16, True, (32, 32)) for _ in range(3)]
    ens = EnsembleNet(nets)
    for enc in ens.encoders.values():
        for layer in (*enc.stem, *enc.body):
            if isinstance(layer, EnsembleConv2d):
                for w in layer.weight.unbind(0):
                    assert w.stride(1) == 1 and w.is_contiguous(memory_format=torch.channels_last)
    audio = torch.randn(4, 1, 32, 32)  # one channel: contiguous and channels-last at once
    single = nets[0].encoders["audio"].stem(audio.contiguous(memory_format=torch.channels_last))
    stem = ens.encoders["audio"].stem[0]
    member = torch.nn.functional.conv2d(audio, stem.weight.unbind(0)[0], stem.bias.unbind(0)[0])
    assert single.is_contiguous(memory_format=torch.channels_last)
    assert member.is_contiguous(memory_format=torch.channels_last) and not member.is_contiguous()
    w = torch.randn(3, 8, 1, 5, 5)
    assert torch.equal(member_channels_last(w), w)  # the same values, another layout
    # training moves the layout nowhere: Adam's state and the gradient keep the parameter's strides
    opt = torch.optim.Adam(ens.parameters())
    z, s = ens({"image": torch.randn(4, 3, 32, 32), "audio": audio}, per_member=False)
    (z.sum() + s.sum()).backward()
    opt.step()
    assert stem.weight.unbind(0)[1].is_contiguous(memory_format=torch.channels_last)
    assert opt.state[stem.weight]["exp_avg"].stride() == stem.weight.stride()


def test_prediction_halves_its_chunk_on_cuda_out_of_memory(caplog: pytest.LogCaptureFixture) -> None:
    """A chunk too large for the GPU is split until it fits; the result matches that chunk size."""
    from lumabench.data import Normaliser, SplitTensors

    g = torch.Generator().manual_seed(0)
    n = 10
    split = SplitTensors(
        sample_id=[str(i) for i in range(n)],
        label=["x"] * n,
        class_id=torch.randint(0, C, (n,), generator=g),
        image=torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
        audio=torch.randn(n, 1, 32, 32, generator=g).half(),
        text=torch.randn(n, 16, generator=g),
        present=torch.ones(n, 3, dtype=torch.bool),
    )
    method = _method("mc_dropout")
    method.normaliser = Normaliser((0.5,) * 3, (0.25,) * 3, 0.0, 1.0)
    real = method.predict
    seen: list[int] = []

    def small_gpu(batch: Batch) -> Prediction:
        seen.append(len(batch.labels))
        if len(batch.labels) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(batch)

    method.predict = small_gpu  # type: ignore[method-assign]
    method._eval_rows = 8
    with caplog.at_level("WARNING"):
        got = method.predict_split(split, "test")
    assert seen[:2] == [8, 4] and max(seen[2:]) == 2 and method._eval_rows == 2
    assert "retrying with 2 rows per chunk" in caplog.text
    method.predict = real  # type: ignore[method-assign]
    method._eval_rows = 2
    want = method.predict_split(split, "test")
    assert torch.equal(got.probs, want.probs) and torch.equal(got.epistemic, want.epistemic)


@pytest.mark.parametrize("layout", ["grouped", "members"])
def test_ensemble_conv_layout_is_chosen_by_params(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`train.ensemble_conv` picks the layout on any device; both give the members' outputs."""
    from lumabench.models.ensemble import EnsembleEncoder

    cfg = CFG.model_copy(update={"ensemble_conv": layout})
    spec = MethodSpec(kind="deep_ensemble", modalities=["image", "audio"], members=2)
    method = load_all()["deep_ensemble"](spec, cfg, C, 16, torch.device("cpu"), 3, ("v", "de"))
    used: list[str] = []
    for name in ("_grouped", "_conv_members"):
        real = getattr(EnsembleEncoder, name)
        monkeypatch.setattr(
            EnsembleEncoder, name, lambda self, x, pm, _r=real, _n=name: used.append(_n) or _r(self, x, pm)
        )
    b = _batch(b=4)
    with torch.no_grad():
        z, _ = method.module.eval()({m: b.inputs[m] for m in ("image", "audio")}, per_member=False)
    assert used == ["_grouped" if layout == "grouped" else "_conv_members"] * 2
    assert z.shape == (2, 2, 4, C)
