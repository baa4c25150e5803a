import pytest

from ichigo.config import load_profile
from tests.conftest import need_binary

SMALL = {
    "tts": {"workers": 2},
    "speech_tokenizer": {"codebook_size": 64, "fit_seconds": 60},
    "data": {"num_train_questions": 60, "num_eval_questions": 12, "num_eval_sentences": 10, "stage1_utterances": 40,
             "stage2_samples": 300, "stage3_samples": 400, "shard_size": 100,
             "stage3_mix": {"two_turn": 0.35, "four_turn": 0.1, "inaudible": 0.45, "transcription": 0.1},
             "asr_gate": False},  # the gate has its own tests (tests/data/test_asr_gate.py)
}


@pytest.fixture(scope="session")
def small_profile():
    need_binary("espeak-ng")
    return load_profile("local", overrides=SMALL)


@pytest.fixture(scope="session")
def built(small_profile, tmp_path_factory):
    """Steps 1-4 once for the whole data test package."""
    from ichigo.data.speech_corpus import build_speech_corpus
    from ichigo.data.stages import build_stage_datasets
    from ichigo.data.tokenize import tokenize_corpus
    from ichigo.speech_tokenizer.train import fit_tokenizer_step

    root = tmp_path_factory.mktemp("pipeline")
    corpus = build_speech_corpus(small_profile, root / "corpus", shard_utterances=25, progress=False)
    tok_path = fit_tokenizer_step(small_profile, root / "corpus", root / "tokenizer")
    tokens = tokenize_corpus(small_profile, root / "corpus", tok_path, root / "tokens", progress=False)
    stages = build_stage_datasets(small_profile, root / "tokens", root / "stages")
    return {"root": root, "corpus": corpus, "tok_path": tok_path, "tokens": tokens, "stages": stages}
