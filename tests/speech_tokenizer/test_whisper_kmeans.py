"""whisper_vq + kmeans: real tiny.en encoder states -> 25 Hz codes; fit, save, load, contract."""

import json

import numpy as np
import pytest

from ichigo.config import SpeechTokenizerConfig
from ichigo.errors import ConfigError
from ichigo.speech_tokenizer import SpeechTokenizer, load_speech_tokenizer
from ichigo.speech_tokenizer.whisper_kmeans import WhisperKMeansTokenizer, fit_whisper_kmeans
from ichigo.speech_tokenizer.whisper_weights import locate_weights
from ichigo.tts import EspeakTTS
from tests.conftest import need, need_binary

CFG = SpeechTokenizerConfig(backend="whisper_vq", quantizer="kmeans", codebook_size=64, window_seconds=5,
                            fit_seconds=60, batch_size=8)


@pytest.fixture(scope="module")
def waves():
    need_binary("espeak-ng")
    try:
        locate_weights("tiny.en")
    except ConfigError as e:
        need(False, str(e))
    tts = EspeakTTS()
    texts = [f"what is {a} plus {b}" for a in ("one", "two", "three") for b in ("four", "five", "six")]
    return tts.synthesize(texts, "en-us+m1") + tts.synthesize(texts, "en-gb+f2")


@pytest.fixture(scope="module")
def tok(waves):
    return fit_whisper_kmeans(waves, CFG, progress=False)


def test_contract_25_codes_per_second(tok, waves):
    assert isinstance(tok, SpeechTokenizer) and tok.kind == "whisper_vq"
    for w in waves[:4] + [waves[0][:300], waves[1][:16000]]:
        codes = tok.encode(w)
        assert len(codes) == max(1, len(w) // 640)
        assert all(0 <= c < 64 for c in codes)  # no pad inside the clip
    assert len({c for w in waves for c in tok.encode(w)}) > 32  # the codebook is used


def test_window_tokens_past_the_end_are_pad(tok, waves):
    w = waves[0]
    states = tok.encoder([w])[0]
    assert states.shape == (125, 384)  # 5 s window at 25 Hz, tiny.en state size
    codes = tok.quantize(states, len(w))
    inside = -(-len(w) // 640)
    assert codes[inside:] == [512] * (125 - inside) and 512 not in codes[:inside]


def test_batched_equals_one_at_a_time(tok, waves):
    assert tok.encode_batch(waves[:5]) == [tok.encode(w) for w in waves[:5]]


def test_long_audio_is_chunked_at_the_window(tok, waves):
    long = np.concatenate(waves[:4])
    assert len(long) > 5 * 16000
    codes = tok.encode(long)
    assert abs(len(codes) - len(long) / 640) <= 2
    assert codes[:125] == tok.encode(long[: 5 * 16000])


def test_save_load_roundtrip_identical_codes(tok, waves, tmp_path):
    path = tok.save(tmp_path / "wk.npz")
    back = load_speech_tokenizer(CFG, path)
    assert isinstance(back, WhisperKMeansTokenizer)
    assert back.encode_batch(waves[3:7]) == tok.encode_batch(waves[3:7])
    # the file says what it is: a package loads even if the profile still says rq
    assert isinstance(load_speech_tokenizer(CFG.model_copy(update={"quantizer": "rq"}), path),
                      WhisperKMeansTokenizer)


def test_fit_is_deterministic(tok, waves):
    again = fit_whisper_kmeans(waves, CFG, progress=False)
    assert np.array_equal(again.centres, tok.centres)


def test_bad_files(tok, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        WhisperKMeansTokenizer.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ConfigError, match="not a Whisper k-means"):
        WhisperKMeansTokenizer.load(tmp_path / "bad.npz")
    meta = json.loads(json.dumps(tok.meta.__dict__))
    meta["weights_sha256"] = "0" * 64
    np.savez(tmp_path / "other.npz", centres=tok.centres, mean=tok.mean, scale=tok.scale,
             meta=np.array(json.dumps({"format": "ichigo-whisper-kmeans-v1", **meta})))
    with pytest.raises(ConfigError, match="installed ones are"):
        WhisperKMeansTokenizer.load(tmp_path / "other.npz")


def test_config_validation():
    with pytest.raises(ValueError):
        SpeechTokenizerConfig(quantizer="pq")
    with pytest.raises(ValueError):
        SpeechTokenizerConfig(window_seconds=0.5)


@pytest.mark.slow
def test_fit_tokenizer_step_fits_on_train_split_only(waves, tmp_path):
    """The pipeline step: fit from corpus shards (train split, no noise), save, reuse on a re-run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ichigo.audio import wav_bytes
    from ichigo.config import load_profile
    from ichigo.speech_tokenizer.train import fit_tokenizer_step

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [("train", "speech", wav_bytes(w)) for w in waves[:10]] + \
        [("eval", "speech", wav_bytes(w)) for w in waves[10:]] + \
        [("train", "noise", wav_bytes(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)))]
    pq.write_table(pa.table({"split": [r[0] for r in rows], "kind": [r[1] for r in rows],
                             "audio_wav": [r[2] for r in rows]}), corpus / "part-00000.parquet")
    profile = load_profile("local", overrides={"speech_tokenizer": {
        "backend": "whisper_vq", "quantizer": "kmeans", "window_seconds": 5, "codebook_size": 32,
        "fit_seconds": 600}})
    path = fit_tokenizer_step(profile, corpus, tmp_path / "tok")
    manifest = json.loads((tmp_path / "tok" / "manifest.json").read_text())
    assert path.name == "whisper_kmeans.npz" and manifest["quantizer"] == "kmeans"
    assert manifest["fit_frames"] == sum(len(w) // 640 for w in waves[:10])  # train speech only
    mtime = path.stat().st_mtime_ns
    assert fit_tokenizer_step(profile, corpus, tmp_path / "tok") == path and path.stat().st_mtime_ns == mtime
    tok = load_speech_tokenizer(profile.speech_tokenizer, path)
    assert len(tok.encode(waves[12])) == len(waves[12]) // 640


def test_bf16_encoder_is_recorded_and_kept_on_load(tok, waves, tmp_path):
    cfg = CFG.model_copy(update={"encoder_dtype": "bfloat16"})
    bf = fit_whisper_kmeans(waves, cfg, progress=False)
    assert bf.meta.encoder_dtype == "bfloat16" and tok.meta.encoder_dtype == "float32"
    back = WhisperKMeansTokenizer.load(bf.save(tmp_path / "bf.npz"))
    assert back.encoder.dtype == "bfloat16" and back.encode_batch(waves[:4]) == bf.encode_batch(waves[:4])
    # the same codebook under fp32 states: bf16 moves only codes near a boundary
    as_fp32 = WhisperKMeansTokenizer(tok.encoder, bf.centres, bf.mean, bf.scale, bf.meta)
    a, b = bf.encode_batch(waves), as_fp32.encode_batch(waves)
    same = sum(x == y for ca, cb in zip(a, b) for x, y in zip(ca, cb)) / sum(map(len, a))
    assert 0.9 < same < 1.0
    with pytest.raises(ConfigError, match="encoder dtype 'float16'"):
        type(bf.encoder)(bf.encoder.model, 5, dtype="float16")
