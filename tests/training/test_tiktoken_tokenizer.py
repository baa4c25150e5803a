"""The tiktoken (Llama-3 rank file) form gives the same ids as the HF tokenizer.json form."""

from __future__ import annotations

import random

import pytest

from ichigo import world
from ichigo.chat_template import Message, Sound, render_chat, tokenize_chat, user_audio
from ichigo.errors import InputError
from ichigo.model.tiktoken_tokenizer import (
    RANK_FILE, SPECIALS_FILE, TiktokenTokenizer, export_tiktoken, llama3_special_tokens,
)
from ichigo.model.tokenizer import IchigoTokenizer
from ichigo.sound_tokens import NEW_TOKENS


@pytest.fixture(scope="module")
def pair(tiny_llm_dir, tmp_path_factory):
    hf = IchigoTokenizer.load(tiny_llm_dir)
    d = tmp_path_factory.mktemp("tiktoken")
    export_tiktoken(hf, d)
    return hf, TiktokenTokenizer.load(d), d


def test_files_and_vocab(pair):
    hf, tt, d = pair
    assert (d / RANK_FILE).is_file() and (d / SPECIALS_FILE).is_file()
    assert tt.vocab_size == hf.vocab_size
    first = (d / RANK_FILE).read_text().splitlines()[0].split()
    assert len(first) == 2 and first[1].isdigit()  # "base64 rank", as Llama-3's tokenizer.model


def test_sound_tokens_are_single_ids(pair):
    hf, tt, _ = pair
    for i, t in enumerate(NEW_TOKENS):
        assert tt.encode(t) == hf.encode(t) == [hf.sound.start_id + i]
    assert tt.sound == hf.sound
    # typed by a user, a special stays literal text in encode_text (no control-token injection)
    assert len(tt.encode_text("<|sound_0001|>")) > 1
    assert tt.encode_text("<|eot_id|>") == hf.encode_text("<|eot_id|>")


def test_identical_ids_on_chats_with_sound(pair):
    hf, tt, _ = pair
    rng = random.Random(0)
    texts = world.pretraining_texts(200, 3) + ["Hello  world!\n\n\ttabs 1234567 üñí 日本語 🎉", "  x ", "a\r\nb"]
    for i, text in enumerate(texts):
        codes = [rng.randrange(513) for _ in range(rng.randint(1, 40))]
        chat = [Message("system", "Be brief."), user_audio(codes, "Transcribe the following audio clip:" if i % 2 else None),
                Message("assistant", text), Message("user", [text[:20], Sound(codes[:5])]), Message("assistant", "ok")]
        a, b = tokenize_chat(chat, hf), tokenize_chat(chat, tt)
        assert a.ids == b.ids, text
        assert a.labels(False) == b.labels(False)
        assert tt.decode(b.ids) == hf.decode(a.ids) == render_chat(chat)
        assert tt.decode(b.ids, skip_special=True) == hf.decode(a.ids, skip_special=True)


def test_llama3_layout_without_specials_file(tmp_path):
    # a 128000-rank file (as Meta's tokenizer.model) implies the Llama-3 specials, sounds at 128256..
    from tiktoken.load import dump_tiktoken_bpe

    ranks = {bytes([i]): i for i in range(256)}
    ranks.update({f"t{i}".encode(): i for i in range(256, 128_000)})
    dump_tiktoken_bpe(ranks, str(tmp_path / RANK_FILE))
    tt = TiktokenTokenizer.load(tmp_path)
    sp = llama3_special_tokens()
    assert sp["<|begin_of_text|>"] == 128000 and sp["<|eot_id|>"] == 128009 and len(sp) == 256
    assert tt.special_id("<|start_header_id|>") == 128006
    assert tt.sound.start_id == 128256 and tt.sound.code_id(512) == 128770 and tt.vocab_size == 128771


def test_bad_rank_file_is_rejected(tmp_path):
    with pytest.raises(InputError, match="not found"):
        TiktokenTokenizer.load(tmp_path / "missing.model")
    from tiktoken.load import dump_tiktoken_bpe

    dump_tiktoken_bpe({bytes([i]): i for i in range(256)}, str(tmp_path / RANK_FILE))
    with pytest.raises(InputError, match="special_tokens.json"):
        TiktokenTokenizer.load(tmp_path)
