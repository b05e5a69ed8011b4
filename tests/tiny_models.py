"""Tiny randomly initialised models for tests that exercise model code paths without downloads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def tiny_wav2vec2(n_labels: int):
    """A one-layer wav2vec2 CTC model (32-d) with `n_labels` outputs, seeded, in eval mode."""
    import torch
    import torchaudio

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return torchaudio.models.wav2vec2_model(
            extractor_mode="group_norm", extractor_conv_layer_config=None, extractor_conv_bias=False,
            encoder_embed_dim=32, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=16,
            encoder_pos_conv_groups=4, encoder_num_layers=1, encoder_num_heads=2, encoder_attention_dropout=0.0,
            encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
            encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=n_labels,
        ).eval()  # fmt: skip


def tiny_gemma(out: Path, corpus: Sequence[str]) -> Path:
    """Save a 2-layer Gemma and a BPE tokenizer trained on `corpus` into `out` (left padding)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GemmaConfig, GemmaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"])
    tok.train_from_iterator(list(corpus), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )
    fast.padding_side = "left"
    fast.save_pretrained(out)
    config = GemmaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=128, pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id, bos_token_id=fast.bos_token_id,
    )  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(0)
        GemmaForCausalLM(config).save_pretrained(out)
    return out
