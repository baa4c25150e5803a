"""Vocabulary extension: add the sound tokens to a tokenizer and grow the model to match.

New embedding and output rows start at the mean of the existing rows: a new token then looks like
an "average" token instead of noise, and since no existing row changes, the logits of every old
token on old inputs stay exactly what they were.
"""

from __future__ import annotations

import torch
from torch import nn
from torchtune.modules import TiedLinear, TransformerDecoder

from ichigo.model.architecture import ModelArgs
from ichigo.model.tokenizer import IchigoTokenizer


def _grow_rows(weight: torch.Tensor, new_rows: int) -> torch.Tensor:
    mean = weight.mean(dim=0, keepdim=True)
    return torch.cat([weight, mean.expand(new_rows, -1)], dim=0).contiguous()


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
