"""EAU: Embracing Unimodal Aleatoric Uncertainty for Robust Multimodal Fusion (Gao et al., CVPR 2024).

Each modality's encoder (the LUMA encoders of `models.encoders`, without their class heads) feeds two
linear layers giving a Gaussian embedding N(μ_m, diag σ²_m), ℓ_m = log σ²_m, σ_m = exp(ℓ_m / 2)
everywhere. σ²_m is the modality's aleatoric uncertainty, μ_m its stable embedding (SUFA); the fusion
weights each μ_m element-wise by how certain it is (RMFI) and a variational information bottleneck
(VIB; Alemi et al., ICLR 2017) compresses the fused vector. Per row, with P the present modalities:

    L = CE(head(μ_f), y) + β KL(N(μ_f, σ_f²) ‖ N(0, I)) + λ_ib CE(head_ib(z), y),  z = μ_f + σ_f ε
      + λ_prior Σ_{m ∈ P} KL(N_m ‖ N(0, I)) + λ_align Σ_{a ≠ b ∈ P} KL(N_a ‖ N_b)
      + λ_con Σ_{m ∈ P} NT-Xent_m

with x̂ = Σ_{m ∈ P} α_m ⊙ μ_m, α = softmax over P of 1/σ_m (`fusion: paper`) or of −σ²_m (`code`),
and μ_f, ℓ_f two linear maps of x̂. Prediction: the mean over `samples` VIB draws of
softmax(head_ib(z_s)) and the decomposition of `evaluate.uncertainty.sampling_decomposition` over
those draws; the mean σ² of every modality's embedding goes into `Prediction.extras` as
`sigma2_<modality>` (NaN where the modality is missing). Choices and their sources: docs/eau.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lumabench.data import Batch
from lumabench.evaluate.uncertainty import sampling_decomposition
from lumabench.methods.base import Method, Prediction
from lumabench.methods.registry import register
from lumabench.models.encoders import build_encoder

# log σ² is clamped to this range before use: a numerical guard (σ² in [2e-9, 5e8]) so that 1/σ, σ²
# and their softmax stay finite in float32 and bfloat16; the losses keep it far inside in practice.
LOGVAR_RANGE = (-20.0, 20.0)


# ---------------------------------------------------------------- formulas
def gaussian_kl(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(μ1, diag e^ℓ1) ‖ N(μ2, diag e^ℓ2)) summed over the last axis.

    Closed form for diagonal Gaussians (e.g. Kingma & Welling, ICLR 2014, appendix B, for the prior
    case): Σ_d ½ [ℓ2 − ℓ1 + (σ1² + (μ1 − μ2)²) / σ2² − 1]. σ² = e^ℓ throughout (the authors' code
    divides by the squared variance instead; docs/eau.md).
    """
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2).square()) / logvar2.exp() - 1.0).sum(-1)


def prior_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag e^ℓ) ‖ N(0, I)) = Σ_d ½ (σ² + μ² − 1 − ℓ) over the last axis."""
    return 0.5 * (logvar.exp() + mu.square() - 1.0 - logvar).sum(-1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, present: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent per row (Chen, Kornblith, Norouzi, Hinton, "SimCLR", ICML 2020, eq. 1), [N].

    z1, z2 [N, D] are two views of each row, present [N] says which rows take part. For an anchor i
    of the 2N views (present rows only) with positive j (the same row's other view):
    ℓ(i, j) = −log exp(s_ij / τ) / Σ_{k ≠ i, k present} exp(s_ik / τ), s = cosine similarity; the
    negatives are the other present rows' two views. A row's value is the mean of its two anchors'
    losses (so the batch mean is SimCLR's 1/(2N) Σ over anchors); absent rows give 0.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = z @ z.t() / tau  # [2N, 2N]
    keep = present.repeat(2)
    pos = ((z[:n] * z[n:]).sum(-1) / tau).repeat(2)  # s_ij / τ of each anchor with its positive
    invalid = torch.eye(2 * n, dtype=torch.bool, device=z.device) | ~keep.unsqueeze(0)
    logits = sim.masked_fill(invalid, float("-inf"))
    # an absent anchor's row is replaced by zeros (finite logsumexp, no NaN gradient); it is dropped below
    logits = torch.where(keep.unsqueeze(1), logits, torch.zeros_like(logits))
    per_anchor = torch.logsumexp(logits, dim=1) - pos
    per_row = 0.5 * (per_anchor[:n] + per_anchor[n:])
    return torch.where(present, per_row, torch.zeros_like(per_row))


def fusion_weights(logvar: torch.Tensor, mask: torch.Tensor, rule: str) -> torch.Tensor:
    """α [V, B, L]: per dimension, a softmax over the PRESENT modalities; absent ones weigh 0.

    logvar [V, B, L], mask [B, V]. `paper`: softmax of 1/σ_m (Gao et al., CVPR 2024); `code`: softmax
    of −σ²_m (the authors' released code). A row with no modality present gets all-zero weights.
    """
    if rule == "paper":
        score = torch.exp(-0.5 * logvar)
    elif rule == "code":
        score = -logvar.exp()
    else:
        raise ValueError(f"unknown EAU fusion {rule!r}; expected 'paper' or 'code'")
    here = mask.t().unsqueeze(-1)  # [V, B, 1]
    shift = torch.where(here, score, torch.full_like(score, float("-inf"))).amax(0, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift)).detach()
    e = torch.where(here, torch.exp(torch.where(here, score - shift, torch.zeros_like(score))), 0.0)
    return e / e.sum(0, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)


# ---------------------------------------------------------------- module
class EAUNet(nn.Module):
    """Per modality: encoder stem and body -> (μ_m, ℓ_m); fusion -> VIB (μ_f, ℓ_f) -> head, head_ib."""

    def __init__(
        self,
        modalities: list[str],
        n_classes: int,
        latent: int,
        dropout: float,
        text_dim: int,
        audio_shape: tuple[int, int],
        conv_width: float = 1.0,
    ) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.stems = nn.ModuleDict()
        self.bodies = nn.ModuleDict()
        self.mu = nn.ModuleDict()
        self.logvar = nn.ModuleDict()
        for m in self.modalities:
            enc = build_encoder(m, n_classes, dropout, text_dim, False, audio_shape, conv_width)
            features = enc.head.in_features  # the LUMA class head itself is not used
            self.stems[m], self.bodies[m] = enc.stem, enc.body
            self.mu[m] = nn.Linear(features, latent)
            self.logvar[m] = nn.Linear(features, latent)
        self.vib_mu = nn.Linear(latent, latent)
        self.vib_logvar = nn.Linear(latent, latent)
        self.head = nn.Linear(latent, n_classes)
        self.head_ib = nn.Linear(latent, n_classes)
        self.to(memory_format=torch.channels_last)  # conv weights; inputs follow in `embed`

    def embed(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """μ, ℓ = log σ² [V, B, L] in float32, ℓ clamped to `LOGVAR_RANGE`."""
        mus, logvars = [], []
        for m in self.modalities:
            x = inputs[m]
            if x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            h = self.bodies[m](self.stems[m](x))
            mus.append(self.mu[m](h).float())
            logvars.append(self.logvar[m](h).float().clamp(*LOGVAR_RANGE))
        return torch.stack(mus), torch.stack(logvars)

    def bottleneck(self, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ_f, ℓ_f [B, L] of the VIB from the fused embedding x̂."""
        return self.vib_mu(fused).float(), self.vib_logvar(fused).float().clamp(*LOGVAR_RANGE)


# ---------------------------------------------------------------- method
@register("eau")
class EAU(Method):
    """Gaussian unimodal embeddings, uncertainty-weighted fusion and a VIB; one model, VIB samples at test."""

    def build(self) -> nn.Module:
        e = self.spec.eau
        return EAUNet(
            self.modalities,
            self.n_classes,
            e.latent,
            self.spec.dropout,
            self.text_dim,
            self.audio_shape,
            self.cfg.conv_width,
        )

    def _fuse(self, mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x̂ = Σ_m α_m ⊙ μ_m over the present modalities, [B, L]."""
        return (fusion_weights(logvar, mask, self.spec.eau.fusion) * mu).sum(0)

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Every loss term per row [B], unweighted; random draws from the global (seeded) RNG."""
        e = self.spec.eau
        mu, logvar = self.module.embed(batch.inputs)  # [V, B, L]
        here = batch.mask.t().float()  # [V, B]
        v = mu.shape[0]
        prior = (prior_kl(mu, logvar) * here).sum(0)
        align = torch.zeros_like(prior)
        for a in range(v):
            for b in range(v):
                if a != b:
                    align = align + gaussian_kl(mu[a], logvar[a], mu[b], logvar[b]) * here[a] * here[b]
        std = torch.exp(0.5 * logvar)
        z1 = mu + std * torch.randn_like(std)
        z2 = mu + std * torch.randn_like(std)
        contrastive = torch.stack([nt_xent(z1[i], z2[i], batch.mask[:, i], e.tau) for i in range(v)]).sum(0)
        mu_f, logvar_f = self.module.bottleneck(self._fuse(mu, logvar, batch.mask))
        z = mu_f + torch.exp(0.5 * logvar_f) * torch.randn_like(mu_f)
        net = self.module
        return {
            "ce": F.cross_entropy(net.head(mu_f).float(), batch.labels, reduction="none"),
            "vib_kl": prior_kl(mu_f, logvar_f),
            "ib_ce": F.cross_entropy(net.head_ib(z).float(), batch.labels, reduction="none"),
            "prior_kl": prior,
            "align_kl": align,
            "contrastive": contrastive,
        }

    def _rows(self, batch: Batch) -> torch.Tensor:
        """The weighted per-row loss (module docstring)."""
        e = self.spec.eau
        t = self.loss_terms(batch)
        return (
            t["ce"]
            + e.vib_weight * t["vib_kl"]
            + e.ib_weight * t["ib_ce"]
            + e.prior_weight * t["prior_kl"]
            + e.align_weight * t["align_kl"]
            + e.contrastive_weight * t["contrastive"]
        )

    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        return self._rows(batch).mean().unsqueeze(0)

    def val_loss(self, batch: Batch) -> torch.Tensor:
        return self._rows(batch).sum().unsqueeze(0)

    def distill_logits(self, batch: Batch) -> torch.Tensor:
        """head(μ_f), the logits the CE term trains, [1, B, C] (docs/robustness.md)."""
        mu, logvar = self.module.embed(batch.inputs)
        mu_f, _ = self.module.bottleneck(self._fuse(mu, logvar, batch.mask))
        return self.module.head(mu_f).float().unsqueeze(0)

    def predict(self, batch: Batch) -> Prediction:
        mu, logvar = self.module.embed(batch.inputs)
        mu_f, logvar_f = self.module.bottleneck(self._fuse(mu, logvar, batch.mask))
        s = self.spec.eau.samples
        eps = torch.randn((s, *mu_f.shape), device=mu_f.device, dtype=mu_f.dtype)
        z = mu_f.unsqueeze(0) + torch.exp(0.5 * logvar_f).unsqueeze(0) * eps  # [S, B, L]
        probs = torch.softmax(self.module.head_ib(z).float(), dim=-1)
        # a row with no modality fuses to x̂ = 0, an input the VIB never saw in training: it gets the
        # uniform prediction (nothing observed), as every other method's fusion gives it
        nothing = ~batch.mask.any(-1)
        probs = torch.where(nothing.view(1, -1, 1), torch.full_like(probs, 1.0 / probs.shape[-1]), probs)
        d = sampling_decomposition(probs)
        sigma2 = logvar.exp().mean(-1)  # [V, B]
        nan = torch.full_like(sigma2[0], float("nan"))
        extras = {f"sigma2_{m}": torch.where(batch.mask[:, i], sigma2[i], nan) for i, m in enumerate(self.modalities)}
        return Prediction(d["probs"], d["aleatoric"], d["epistemic"], d["total"], extras=extras)
