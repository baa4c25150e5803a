"""The embedded profile's base LLM, built locally and deterministically (no hub).

It stands in for Llama-3.1-8B-Instruct: a byte-level BPE tokenizer with the Llama-3 special
tokens, a tiny Llama-3-architecture decoder, and a short pre-training on the generated world
corpus (plain statements, Q/A, MMLU-style items, and chat-formatted Q/A) so that there is text
ability, including the chat layout, for the speech stages to retain.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm
from torch import nn
from torchtune.training.lr_schedulers import get_cosine_schedule_with_warmup

from ichigo import world
from ichigo.chat_template import BEGIN_OF_TEXT, END_OF_TEXT, Message, tokenize_chat
from ichigo.config import BaseModelConfig
from ichigo.errors import ConfigError
from ichigo.model.architecture import ModelArgs, build_model
from ichigo.model.checkpoint import save_pretrained
from ichigo.model.tokenizer import IchigoTokenizer


def init_weights(model: nn.Module, std: float = 0.02) -> None:
    """Small-normal init: torch's default N(0, 1) embeddings waste the first minutes of training."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)


def base_training_documents(tok: IchigoTokenizer, n: int, seed: int) -> list[list[int]]:
    """Token-id documents: raw world texts and the same facts as single-turn text chats."""
    rng = random.Random(seed + 1)
    bos, eos = tok.special_id(BEGIN_OF_TEXT), tok.special_id(END_OF_TEXT)
    docs = [[bos, *tok.encode_text(t), eos] for t in world.pretraining_texts(n // 2, seed)]
    facts, talk = world.all_facts(), world.small_talk_pairs()
    for _ in range(n - len(docs)):
        if rng.random() < 0.05:  # greetings and small talk, so "hello" is not answered with a fact
            prompt, reply = rng.choice(talk)
        else:
            f = rng.choice(facts)
            prompt, reply = f.train_question(rng), f.answer
        chat = [Message("user", world.typed_form(prompt, rng)), Message("assistant", reply)]
        docs.append(tokenize_chat(chat, tok).ids)
    rng.shuffle(docs)
    return docs


def pack(docs: list[list[int]], seq_len: int) -> torch.Tensor:
    flat = [t for d in docs for t in d]
    n = len(flat) // seq_len
    return torch.tensor(flat[: n * seq_len]).view(n, seq_len)


def build_embedded_base_model(cfg: BaseModelConfig, out_dir: str | Path, seq_len: int = 256,
                              on_step: Callable[[int, float], None] | None = None, bf16: bool = False) -> dict:
    """Train tokenizer + model; save HF format to `out_dir`. Returns a summary (losses, time).
    `bf16`: compute under bf16 autocast (weights, gradients and AdamW state stay fp32), ~1.9x
    the fp32 steps/s on an AMX CPU; the caller decides it by the one dtype rule (ichigo.precision)."""
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    questions = [q for f in world.all_facts() for q in f.train_questions()]
    # shouted questions too: without upper-case merges "WHAT IS THE CAPITAL" is a run of single
    # bytes that the model barely links to the words it knows
    corpus = world.pretraining_texts(4000, cfg.seed) + questions + [q.upper() for q in questions] + [
        t for pair in world.small_talk_pairs() for t in pair]
    tok = IchigoTokenizer.train_bpe(corpus, cfg.bpe_vocab_size)
    args = ModelArgs(vocab_size=tok.vocab_size, embed_dim=cfg.embed_dim, num_layers=cfg.num_layers,
                     num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads,
                     intermediate_dim=cfg.intermediate_dim, max_seq_len=cfg.max_seq_len)
    model = build_model(args)
    init_weights(model)
    data = pack(base_training_documents(tok, cfg.pretrain_documents, cfg.seed), seq_len)
    if not len(data):
        raise ConfigError(f"base_model.pretrain_documents={cfg.pretrain_documents} does not fill one "
                          f"{seq_len}-token training sequence: use a few hundred or more")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.01)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=max(1, cfg.pretrain_steps // 20),
                                            num_training_steps=max(1, cfg.pretrain_steps))
    g = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    model.train()
    for step in tqdm(range(cfg.pretrain_steps), desc="base model pre-training", unit="step",
                     mininterval=2, disable=on_step is not None):
        idx = torch.randint(0, data.size(0), (cfg.pretrain_batch_size,), generator=g)
        batch = data[idx]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if on_step:
            on_step(step, losses[-1])
    model.eval()
    summary = {"kind": "embedded", "parameters": sum(p.numel() for p in model.parameters()),
               "vocab_size": args.vocab_size, "pretrain_steps": cfg.pretrain_steps,
               "precision": "bf16 autocast, fp32 weights" if bf16 else "fp32",
               "final_loss": losses[-1] if losses else math.nan,
               "loss_curve": losses[:: max(1, len(losses) // 50)], "seconds": time.time() - t0}
    save_pretrained(model, tok, args, out_dir, meta={"base_model": summary})
    return summary
