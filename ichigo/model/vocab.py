"""Vocabulary extension: add the sound tokens to a tokenizer and grow the model to match.

New embedding and output rows are drawn around the mean of the existing rows, with their
per-dimension spread (seeded: the same rows on every run). All at the mean, the 515 rows are one
token to the network until AdamW (<= lr per step) pulls them apart, and SmolLM2's rows spread ~0.1 per
dimension: from mean rows, after 40 stage-2 steps its answer loss on held-out clips was the same with
another clip's audio (gap 0.02 nats/token); from drawn rows it was 0.61 lower with the right one.
Since no existing row changes, the logits of every old token on old inputs stay what they were.
"""

from __future__ import annotations

import torch
from torch import nn
from torchtune.modules import TiedLinear, TransformerDecoder

from ichigo.model.architecture import ModelArgs
from ichigo.model.tokenizer import IchigoTokenizer

INIT_SEED = 0


def _grow_rows(weight: torch.Tensor, new_rows: int) -> torch.Tensor:
    old = weight.float()
    noise = torch.randn(new_rows, weight.shape[1], generator=torch.Generator().manual_seed(INIT_SEED))
    new = old.mean(dim=0, keepdim=True) + noise.to(weight.device) * old.std(dim=0, keepdim=True)
    return torch.cat([weight, new.to(weight.dtype)], dim=0).contiguous()


@torch.no_grad()
def extend_vocab(model: TransformerDecoder, tokenizer: IchigoTokenizer,
                 args: ModelArgs) -> tuple[TransformerDecoder, IchigoTokenizer, ModelArgs]:
    if tokenizer.vocab_size != args.vocab_size:
        raise ValueError(f"tokenizer ({tokenizer.vocab_size}) and model ({args.vocab_size}) "
                         "vocabularies differ; extend a consistent pair")
    new_tok = tokenizer.with_sound_tokens()
    added = new_tok.vocab_size - tokenizer.vocab_size
    emb = model.tok_embeddings
    new_emb = nn.Embedding(new_tok.vocab_size, emb.embedding_dim, dtype=emb.weight.dtype,
                           device=emb.weight.device)
    new_emb.weight.copy_(_grow_rows(emb.weight, added))
    model.tok_embeddings = new_emb
    out = model.output
    if isinstance(out, TiedLinear):  # tied head (SmolLM2): it holds the module, so re-point it
        model.output = TiedLinear(new_emb)
    elif isinstance(out, nn.Linear):  # untied head (Llama-3.1-8B)
        new_out = nn.Linear(out.in_features, new_tok.vocab_size, bias=False, dtype=out.weight.dtype,
                            device=out.weight.device)
        new_out.weight.copy_(_grow_rows(out.weight, added))
        model.output = new_out
    return model, new_tok, args.with_vocab(new_tok.vocab_size)
