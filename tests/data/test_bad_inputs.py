"""Bad audio/text in a corpus shard is resampled, chunked or skipped with a counted reason."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ichigo.audio import wav_bytes
from ichigo.config import load_profile
from ichigo.data.speech_corpus import CORPUS_SCHEMA
from ichigo.data.tokenize import tokenize_corpus
from ichigo.speech_tokenizer import fit_codebook

import io
import soundfile as sf


def _wav(wave, sr):
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV")
    return buf.getvalue()


def test_tokenize_counts_bad_rows(tmp_path):
    prof = load_profile("local", overrides={"speech_tokenizer": {"codebook_size": 8, "fit_seconds": 5,
                                                                 "max_chunk_seconds": 4.0}})
    rng = np.random.default_rng(0)
    speechy = (0.3 * rng.standard_normal(16000 * 3)).astype(np.float32)
    tok = fit_codebook([speechy], prof.speech_tokenizer, progress=False)
    tok_path = tok.save(tmp_path / "cb.npz")
    t22 = (0.3 * np.sin(np.arange(22050 * 2) / 7.0)).astype(np.float32)
    rows = [
        ("ok", "question", "what is two plus two", wav_bytes(speechy), ""),
        ("rate", "question", "what is one plus one", _wav(t22, 22050), ""),
        ("long", "stage1", "a long one", wav_bytes(np.tile(speechy, 3)), ""),
        ("empty_audio", "question", "hello", b"", ""),
        ("corrupt", "question", "hello", b"RIFFxxxxWAVEjunk" * 4, ""),
        ("silent", "question", "hello", wav_bytes(np.zeros(16000, np.float32)), ""),
        ("empty_text", "question", "  ", wav_bytes(speechy), ""),
        ("tts", "question", "hello", b"", "tts_failed: espeak exploded"),
        ("overlong", "stage1", "x", wav_bytes(np.tile(speechy, 41)), ""),
    ]
    table = pa.Table.from_pylist([
        {"id": i, "split": "train", "kind": k, "text": t, "answer": "a", "voice": "v", "audio_wav": a,
         "seconds": 1.0, "error": e} for i, k, t, a, e in rows], schema=CORPUS_SCHEMA)
    (tmp_path / "corpus").mkdir()
    pq.write_table(table, tmp_path / "corpus/part-00000.parquet")
    m = tokenize_corpus(prof, tmp_path / "corpus", tok_path, tmp_path / "tokens", progress=False)
    assert m.num_rows == 9 and m.num_tokenized == 3
    assert m.skipped == {"empty": 1, "corrupt": 1, "silent": 1, "empty_text": 1, "tts_failed": 1, "too_long": 1}
    assert m.resampled == 1 and m.chunked == 1
    out = {r["id"]: r for r in pq.read_table(tmp_path / "tokens/part-00000.parquet").to_pylist()}
    assert len(out["rate"]["codes"]) == 50  # 2 s at 22.05 kHz -> 16 kHz -> 50 tokens
    assert len(out["long"]["codes"]) == 225  # 9 s chunked into 4 s pieces, nothing dropped
    assert out["silent"]["codes"] is None and out["silent"]["skip"] == "silent"
