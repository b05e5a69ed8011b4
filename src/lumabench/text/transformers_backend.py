"""GPU text backend: an instruction-tuned causal LM (Gemma-7B-it in the full profile) via transformers.

Batched, left-padded generation. Sampling (temperature, then top-p; Holtzman et al., "The Curious
Case of Neural Text Degeneration", ICLR 2020) is done per row with the Gumbel-max trick (Gumbel
1954; Maddison, Tarlow & Minka, "A* Sampling", NeurIPS 2014): argmax(log p + G), G ~ Gumbel(0, 1),
is a draw from p. The Gumbel noise of each row comes from that row's own torch.Generator seeded
from its (class, prompt, sample) seed, so a text does not depend on which batch it ran in and can
be regenerated alone; transformers' own sampler would draw all rows from one global stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from lumabench.errors import DownloadError, MissingDependencyError
from lumabench.params import Text
from lumabench.text.backend import BatchTooLarge, Job

log = logging.getLogger(__name__)


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise MissingDependencyError("torch is not installed", fix="pip install -e .") from exc
    return torch


class RowSampler:
    """A transformers logits processor that samples each row from its own seeded stream.

    Returns scores that are 0 at the sampled token and -inf elsewhere, so greedy decoding picks it.
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device: Any) -> None:
        torch = _torch()
        self.temperature = temperature
        self.top_p = top_p
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = _torch()
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
            probs = torch.softmax(sorted_logits, dim=-1)
            cum = torch.cumsum(probs, dim=-1)
            drop_sorted = (cum - probs) > self.top_p  # tokens after the nucleus is complete
            drop_sorted[..., 0] = False
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            logits = logits.masked_fill(drop, float("-inf"))
        logp = torch.log_softmax(logits, dim=-1)
        vocab = logp.shape[-1]
        u = torch.stack(
            [torch.rand(vocab, generator=g, device=logp.device, dtype=torch.float32) for g in self.generators]
        )
        gumbel = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-7)))
        pick = torch.argmax(logp + gumbel, dim=-1, keepdim=True)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, pick, 0.0)


class TransformersBackend:
    """Generates with a hub model (or a local model directory) on CUDA when present, else CPU."""

    name = "transformers"

    def __init__(self, cfg: Text, device: str | None = None) -> None:
        torch = _torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.model = cfg.model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = getattr(torch, cfg.dtype)
        if self.device == "cpu" and dtype != torch.float32:
            log.warning("no GPU: generating with %s on CPU in float32 (slow)", cfg.model)
            dtype = torch.float32
        fix = (
            "log in with `hf auth login`, accept the model licence on its hub page and retry online, "
            "or set text.model to a local model directory"
        )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(cfg.model, revision=cfg.revision)
            self.lm = AutoModelForCausalLM.from_pretrained(cfg.model, revision=cfg.revision, dtype=dtype)
        except OSError as exc:
            raise DownloadError(f"could not load model {cfg.model!r} ({str(exc).splitlines()[0]})", fix=fix) from exc
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm.to(self.device).eval()

    def fingerprint(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "backend": self.name,
            "model": c.model,
            "revision": c.revision,
            "dtype": c.dtype if self.device != "cpu" else "float32",
            "max_new_tokens": c.max_new_tokens,
            "temperature": c.temperature,
            "top_p": c.top_p,
        }

    def _chat(self, prompt: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return str(
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
                )
            )
        return prompt

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        torch = _torch()
        from transformers import GenerationConfig, LogitsProcessorList

        texts = [self._chat(j.prompt) for j in jobs]
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not has_template)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        sampler = RowSampler([j.seed for j in jobs], self.cfg.temperature, self.cfg.top_p, self.device)
        gen = GenerationConfig(
            max_new_tokens=self.cfg.max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        try:
            with torch.inference_mode():
                out = self.lm.generate(**enc, generation_config=gen, logits_processor=LogitsProcessorList([sampler]))
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise BatchTooLarge(str(exc)) from exc
        new = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
