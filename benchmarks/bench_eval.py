"""Evaluation speed at the local profile's scale, against its own baseline in the same run.

    .venv/bin/python benchmarks/bench_eval.py [--questions 200] [--threads 0]

1. reply generation: batched greedy decoding (what evaluation uses) vs one prompt at a time
   through the serving decoder (`stream_generate`); target >= 4x on 2 cores.
2. the whole `evaluate_model` on a local-profile-sized model (random weights, so every reply runs
   to max_new_tokens: the worst case) with `--questions` spoken questions; target ~60 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ichigo import world  # noqa: E402
from ichigo.audio import wav_bytes  # noqa: E402
from ichigo.config import BaseModelConfig, SpeechTokenizerConfig, load_profile  # noqa: E402
from ichigo.data.noise import NOISE_KINDS, make_noise  # noqa: E402
from ichigo.eval.generation import audio_prompt, generate_batch  # noqa: E402
from ichigo.eval.run import evaluate_model  # noqa: E402
from ichigo.model.architecture import ModelArgs, build_model  # noqa: E402
from ichigo.model.base_model import init_weights  # noqa: E402
from ichigo.model.checkpoint import load_pretrained, save_pretrained  # noqa: E402
from ichigo.model.generate import generate_text  # noqa: E402
from ichigo.model.tokenizer import IchigoTokenizer  # noqa: E402
from ichigo.records import EvalItem, write_eval_items  # noqa: E402
from ichigo.speech_tokenizer import fit_codebook  # noqa: E402


def tone_speech(text: str, rng: np.random.Generator) -> np.ndarray:
    """One chord per word: speech-like length and variety, no TTS needed."""
    parts = []
    for w in text.split():
        h = sum(map(ord, w))
        t = np.arange(int(0.26 * 16000)) / 16000
        parts.append(np.sin(2 * np.pi * (150 + h % 700) * t) + 0.4 * np.sin(2 * np.pi * (900 + h * 7 % 1500) * t))
    x = np.concatenate(parts) + 0.02 * rng.standard_normal(sum(map(len, parts)))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def build(root: Path, n_questions: int) -> tuple[Path, Path, Path]:
    cfg = BaseModelConfig()  # the local profile's architecture
    tok = IchigoTokenizer.train_bpe(world.pretraining_texts(2000), cfg.bpe_vocab_size).with_sound_tokens()
    args = ModelArgs(vocab_size=tok.vocab_size, embed_dim=cfg.embed_dim, num_layers=cfg.num_layers,
                     num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads,
                     intermediate_dim=cfg.intermediate_dim, max_seq_len=cfg.max_seq_len)
    model = build_model(args)
    init_weights(model)
    save_pretrained(model, tok, args, root / "llm")
    params = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(0)
    facts = world.all_facts()
    facts = [facts[i] for i in rng.permutation(len(facts))[:n_questions]]
    speech = [tone_speech(f.question(), rng) for f in facts]
    noise = [make_noise(NOISE_KINDS[i % 4], 1.5, rng) for i in range(max(8, n_questions // 5))]
    st = fit_codebook(speech + noise, SpeechTokenizerConfig(fit_seconds=120), progress=False)
    st.save(root / "codebook.npz")
    write_eval_items([EvalItem(f"q{i}", "qa", f.question(), f.answer, "tone", st.encode(w), wav_bytes(w))
                      for i, (f, w) in enumerate(zip(facts, speech))], root / "eval" / "qa.parquet")
    write_eval_items([EvalItem(f"n{i}", "noise", "", "", "noise", st.encode(w), wav_bytes(w))
                      for i, w in enumerate(noise)], root / "eval" / "noise.parquet")
    print(f"model: {params / 1e6:.1f}M parameters, {len(facts)} questions, {len(noise)} noise clips")
    return root / "llm", root / "eval", root / "codebook.npz"


def bench_generation(llm: Path, eval_dir: Path, n: int = 32, new_tokens: int = 24) -> tuple[float, float]:
    from ichigo.records import read_eval_items
    lm = load_pretrained(llm)
    prompts = [audio_prompt(lm, it.codes) for it in read_eval_items(eval_dir / "qa.parquet")[:n]]
    generate_batch(lm, prompts[:2], 2)  # warm-up
    t = time.perf_counter()
    for p in prompts:
        generate_text(lm.model, lm.tokenizer, p, new_tokens)
    seq = time.perf_counter() - t
    t = time.perf_counter()
    generate_batch(lm, prompts, new_tokens)
    return seq, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        llm, eval_dir, st = build(root, a.questions)
        seq, bat = bench_generation(llm, eval_dir)
        t = time.perf_counter()
        m = evaluate_model(load_profile("local"), llm, eval_dir, st, root / "out", base_llm_dir=llm).metrics
        total = time.perf_counter() - t
    print(f"\n| measurement | value | target |\n| --- | --- | --- |")
    print(f"| 32 replies x 24 tokens, one at a time (baseline) | {seq:.2f} s | |")
    print(f"| 32 replies x 24 tokens, batched | {bat:.2f} s | |")
    print(f"| speed-up | {seq / bat:.1f}x | >= 4x {'OK' if seq / bat >= 4 else 'MISSED'} |")
    print(f"| evaluate_model, {a.questions} questions, worst case | {total:.1f} s | ~60 s "
          f"{'OK' if total <= 90 else 'MISSED'} |")
    print(f"| first-token p50 / p95 | {m['first_token_p50_ms']:.1f} / {m['first_token_p95_ms']:.1f} ms | |")
    print(f"| peak RSS | {m['peak_memory_mb']:.0f} MB | |")


if __name__ == "__main__":
    main()
