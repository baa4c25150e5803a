"""Shared test helpers.

`need(ok, reason)`: a test that depends on a service, a binary or ../shared skips with the reason
on a laptop, but fails under CI (CI=true), where everything must be there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# session fixtures that start real servers (Postgres database, S3, MLflow): tests/services.py
pytest_plugins = ["tests.services"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok: bool, reason: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def need_binary(name: str) -> str:
    path = shutil.which(name) or (str(REPO / ".venv/bin" / name) if (REPO / ".venv/bin" / name).exists() else None)
    need(path is not None, f"{name} is not installed (run scripts/bootstrap.sh)")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    from ichigo.paths import shared_dir as _shared

    d = _shared()
    need(d.is_dir(), f"../shared not found at {d} (set ICHIGO_SHARED_DIR)")
    return d


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory) -> Path:
    """A tiny base model (few pre-training steps) with the sound tokens added, HF format."""
    return build_tiny_llm(tmp_path_factory.mktemp("tiny_llm"))


def build_tiny_llm(root: Path) -> Path:
    """The body of `tiny_llm_dir` (also used by benchmarks/bench_serving.py)."""
    from ichigo.config import BaseModelConfig
    from ichigo.model.base_model import build_embedded_base_model
    from ichigo.model.checkpoint import load_pretrained, save_pretrained
    from ichigo.model.vocab import extend_vocab

    cfg = BaseModelConfig(embed_dim=64, num_layers=2, num_heads=4, num_kv_heads=2,
                          intermediate_dim=128, max_seq_len=1024, pretrain_steps=20,
                          pretrain_documents=6000)
    build_embedded_base_model(cfg, root / "base")
    lm = load_pretrained(root / "base")
    save_pretrained(*extend_vocab(lm.model, lm.tokenizer, lm.args), root / "extended")
    return root / "extended"


TINY_PACKAGE_SENTENCES = (
    "What is the capital of France?", "Please tell me a short story.",
    "How many legs does a spider have?", "Transcribe the following audio clip.",
    "The quick brown fox jumps over the lazy dog.", "Good morning, how are you today?",
)


TINY_PACKAGE_REPLY = "Hello! I can hear you. Ask me anything."


def teach_reply(llm_dir: Path, out_dir: Path, reply: str, steps: int = 100, seed: int = 0) -> Path:
    """Fine-tune a tiny model (a few seconds on CPU) so that it answers every user turn, spoken or
    written, with `reply`: a served test model that says real sentences (and so gets real TTS)."""
    import torch
    import torch.nn.functional as F

    from ichigo.chat_template import Message, tokenize_chat, user_audio
    from ichigo.model.checkpoint import load_pretrained, save_pretrained

    lm = load_pretrained(llm_dir)
    g = torch.Generator().manual_seed(seed)
    rng = __import__("random").Random(seed)
    rows = []
    for i in range(32):
        user = (user_audio(torch.randint(0, 64, (rng.randint(10, 60),), generator=g).tolist())
                if i % 2 else Message("user", rng.choice(TINY_PACKAGE_SENTENCES)))
        chat = tokenize_chat([user, Message("assistant", reply)], lm.tokenizer)
        rows.append((chat.ids, chat.labels(train_on_input=False)[1:] + [-100]))
    opt = torch.optim.AdamW(lm.model.parameters(), lr=5e-3)
    lm.model.train()
    batch = 4
    for step in range(steps):
        part = [rows[(step * batch + j) % len(rows)] for j in range(batch)]
        n = max(len(ids) for ids, _ in part)
        x = torch.tensor([ids + [0] * (n - len(ids)) for ids, _ in part])
        y = torch.tensor([lab + [-100] * (n - len(lab)) for _, lab in part])
        loss = F.cross_entropy(lm.model(x).flatten(0, 1), y.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.model.eval()
    return save_pretrained(lm.model, lm.tokenizer, lm.args, out_dir, meta={"taught_reply": reply})


@pytest.fixture(scope="session")
def tiny_package(tiny_llm_dir, tmp_path_factory) -> Path:
    """A servable model package: `tiny_llm_dir` + a 64-code codebook speech tokenizer fitted on a
    few seconds of espeak-ng speech (ichigo.package layout)."""
    need_binary("espeak-ng")
    return build_tiny_package(tiny_llm_dir, tmp_path_factory.mktemp("tiny_package"))


def build_tiny_package(tiny_llm_dir: Path, root: Path) -> Path:
    """The body of `tiny_package` (also used by benchmarks/bench_serving.py)."""
    from ichigo.config import SpeechTokenizerConfig
    from ichigo.package import write_package
    from ichigo.speech_tokenizer import fit_codebook
    from ichigo.tts import EspeakTTS

    llm = teach_reply(tiny_llm_dir, root / "llm", TINY_PACKAGE_REPLY)
    tts = EspeakTTS()
    waves = [w for v in ("en-us", "en-gb+f3") for w in tts.synthesize(list(TINY_PACKAGE_SENTENCES), v)]
    st = fit_codebook(waves, SpeechTokenizerConfig(codebook_size=64, fit_seconds=30), progress=False)
    st.save(root / "codebook.npz")
    return write_package(root / "package", llm, root / "codebook.npz", "codebook",
                         lineage={"source": "tests/conftest.py:tiny_package"})
