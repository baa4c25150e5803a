"""Test-only builders: a small eval set with real audio, a "healthy" tiny speech model, and a
local OpenAI-compatible judge server that can be told to misbehave.

The healthy model is the shared tiny model fine-tuned for a few hundred steps on exactly the
eval items (answers, transcripts, refusals to random codes and noise, the k-shot MC items), so
that the real metric functions measure good numbers on it. It is a fixture for testing the
evaluation and the gate, not a claim about generalisation.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ichigo import world
from ichigo.audio import SAMPLE_RATE, wav_bytes
from ichigo.chat_template import BEGIN_OF_TEXT, IGNORE_INDEX, Message, tokenize_chat, user_audio
from ichigo.config import SpeechTokenizerConfig
from ichigo.data.noise import NOISE_KINDS, make_noise
from ichigo.eval.asr import transcription_prompt
from ichigo.eval.inaudible import random_code_items
from ichigo.eval.mc import MCItem, k_shot_prompt
from ichigo.model.checkpoint import load_pretrained, save_pretrained
from ichigo.records import EvalItem, write_eval_items
from ichigo.speech_tokenizer import fit_codebook

REFUSAL = "I cannot hear you clearly."
N_QA, N_NOISE, N_MC, SHOTS = 16, 8, 16, 0  # 0 shots keeps rows short: fast training


def embedded_mc_set(n_items: int, num_shots: int, seed: int = 0) -> tuple[list[MCItem], list[MCItem]]:
    """(shots, items): MMLU-format items about the embedded world, each fact at most once, for
    unit tests of the scorers (the pipeline reads the world as benchmark files instead)."""
    facts = world.all_facts()
    rng = random.Random(seed)
    order = list(range(len(facts)))
    rng.shuffle(order)
    items = []
    for f in (facts[i] for i in order[: num_shots + n_items]):
        options, idx = world.answer_choices(f, facts, rng)
        items.append(MCItem(id=f"world-{f.kind}-{f.subject}", question=f.question(),
                            choices=tuple(options), answer=idx))
    return items[:num_shots], items[num_shots:]


def speechlike(text: str, seed: int) -> np.ndarray:
    """A deterministic stand-in for speech: one short chord per word (stable per word), so that
    different sentences give different, reproducible sound codes."""
    rng = np.random.default_rng(seed)
    parts = []
    for w in text.split():
        h = zlib.crc32(w.encode())
        f1, f2 = 180 + h % 700, 900 + (h >> 10) % 1800
        t = np.arange(int(0.26 * SAMPLE_RATE)) / SAMPLE_RATE
        env = np.sin(np.pi * t / t[-1]) ** 0.5
        parts.append(env * (0.5 * np.sin(2 * np.pi * f1 * t) + 0.3 * np.sin(2 * np.pi * f2 * t)))
    x = np.concatenate(parts) + 0.01 * rng.standard_normal(sum(len(p) for p in parts))
    return (0.6 * x / np.abs(x).max()).astype(np.float32)


def build_eval_set(root: Path) -> dict:
    """qa.parquet / noise.parquet under root/eval, and a fitted codebook tokenizer."""
    facts = [f for f in world.all_facts() if f.kind != "sum"]
    facts = random.Random(3).sample(facts, N_QA)
    speech = [speechlike(f.question(), i) for i, f in enumerate(facts)]
    rng = np.random.default_rng(0)
    noise = [make_noise(NOISE_KINDS[i % len(NOISE_KINDS)], 1.6, rng) for i in range(N_NOISE)]
    tok = fit_codebook(speech + noise, SpeechTokenizerConfig(codebook_size=64, fit_seconds=600),
                       progress=False)
    tok_path = tok.save(root / "codebook.npz")
    qa = [EvalItem(f"q{i}", "qa", f.question(), f.answer, "synthetic", tok.encode(w), wav_bytes(w))
          for i, (f, w) in enumerate(zip(facts, speech))]
    nz = [EvalItem(f"n{i}", "noise", "", "", "synthetic", tok.encode(w), wav_bytes(w))
          for i, w in enumerate(noise)]
    write_eval_items(qa, root / "eval" / "qa.parquet")
    write_eval_items(nz, root / "eval" / "noise.parquet")
    return {"eval_dir": root / "eval", "tokenizer": tok_path, "qa": qa, "noise": nz}


def _training_rows(tok, qa: list[EvalItem], noise: list[EvalItem]) -> list[tuple[list[int], list[int]]]:
    rows = []

    def chat(msgs):
        t = tokenize_chat(msgs, tok)
        rows.append((t.ids, t.labels(train_on_input=False)))

    for i, it in enumerate(qa):
        chat([user_audio(it.codes), Message("assistant", it.answer)])
        chat([user_audio(it.codes, transcription_prompt(i)), Message("assistant", it.text)])
    lengths = [len(it.codes) for it in qa]
    for it in random_code_items(lengths, 32, seed=1234) + noise:
        chat([user_audio(it.codes), Message("assistant", REFUSAL)])
    shots, items = embedded_mc_set(N_MC, SHOTS, seed=0)
    bos = tok.special_id(BEGIN_OF_TEXT)
    for it in items:
        ctx = [bos, *tok.encode_text(k_shot_prompt(it, shots))]
        letter = tok.encode_text(" " + "ABCD"[it.answer])
        rows.append((ctx + letter, [IGNORE_INDEX] * len(ctx) + letter))
    return rows


def train_healthy(base_dir: Path, eval_set: dict, out_dir: Path, steps: int = 200, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared 2-core box: more threads only contend
    try:
        return _train(base_dir, eval_set, out_dir, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _train(base_dir: Path, eval_set: dict, out_dir: Path, steps: int, seed: int) -> Path:
    lm = load_pretrained(base_dir)
    rows = _training_rows(lm.tokenizer, eval_set["qa"], eval_set["noise"])
    model = lm.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    g = random.Random(seed)
    for _ in range(steps):
        batch = g.sample(rows, 16)
        width = max(len(ids) for ids, _ in batch)
        x = torch.zeros(len(batch), width, dtype=torch.long)
        y = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        for r, (ids, labels) in enumerate(batch):
            x[r, : len(ids)] = torch.tensor(ids)
            y[r, : len(ids) - 1] = torch.tensor(labels[1:])
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=IGNORE_INDEX)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    save_pretrained(model, lm.tokenizer, lm.args, out_dir, meta={"test": "healthy", "final_loss": loss.item()})
    return out_dir


def label_shuffled_copy(src: Path, out_dir: Path, seed: int = 0) -> Path:
    """The same model with its output rows permuted: every prediction maps to a wrong token."""
    lm = load_pretrained(src)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = lm.model.output.weight
        w.copy_(w[torch.randperm(w.size(0), generator=g)])
    save_pretrained(lm.model, lm.tokenizer, lm.args, out_dir, meta={"test": "label-shuffled"})
    return out_dir


class JudgeServer:
    """Replies per `script`: a list of behaviours consumed one per request (the last repeats)."""

    def __init__(self):
        self.script: list[str] = ["ok"]
        self.requests: list[dict] = []
        self.seen: dict[str, int] = {}  # "per_answer" mode: requests per prompt
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body,
                                        "auth": self.headers.get("Authorization")})
                mode = server.script[min(len(server.requests), len(server.script)) - 1]
                if mode == "per_answer":  # the answer says how to behave: sometimes garbage
                    prompt = body["messages"][-1]["content"]
                    n = server.seen[prompt] = server.seen.get(prompt, 0) + 1
                    mode = "garbage" if "never-rated" in prompt or ("flaky" in prompt and n == 1) else "ok"
                if mode == "sleep":
                    time.sleep(1.0)
                    mode = "ok"
                if mode in ("500", "401"):
                    self.send_response(int(mode))
                    self.end_headers()
                    self.wfile.write(b"nope")
                    return
                content = {"ok": "The answer matches the reference.\nRating: 4",
                           "garbage": "What a lovely answer!", "out_of_range": "Rating: 7"}[mode]
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data.encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
