"""A text tokenizer in HF `tokenizer.json` form in which every special and sound token is one id.

Two views of the same vocabulary: the full tokenizer (special and sound tokens are matched as
single ids, as any HF consumer of the saved file sees them) and a plain one without added tokens
that `encode_text` uses, so that user text containing e.g. "<|eot_id|>" stays literal bytes and
cannot inject control tokens. Special tokens only ever enter through `special_id` / SoundVocab.

The chat layout (`chat_format`) comes from the base's chat template, stored beside tokenizer.json
in `tokenizer_config.json` as HF does; see ichigo.chat_template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from ichigo.chat_template import (END_OF_TEXT, EOT, PAD, SPECIAL_TOKENS, ChatFormat,
                                  chat_format_for)
from ichigo.errors import InputError
from ichigo.sound_tokens import NEW_TOKENS, SoundVocab

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# A Llama-3-layout template equivalent to ichigo.chat_template's LLAMA3 (for HF consumers).
LLAMA3_JINJA = ("{{ '<|begin_of_text|>' }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] "
                "+ '<|end_header_id|>\\n\\n' + m['content'] + '<|eot_id|>' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
                "{% endif %}")


class IchigoTokenizer:
    def __init__(self, tk: Tokenizer, chat_template: str | None = None, source: str = "tokenizer"):
        self.tk = tk
        data = json.loads(tk.to_str())
        data["added_tokens"] = []
        self._plain = Tokenizer.from_str(json.dumps(data))
        vocab = tk.get_vocab(with_added_tokens=True)
        self.chat_format: ChatFormat = chat_format_for(chat_template, vocab, source)
        self.chat_template = chat_template or LLAMA3_JINJA
        fmt = self.chat_format
        # Llama-3 role names -> this base's ids, plus every control token of the layout by name
        self._special = {t: vocab[t] for t in fmt.required_tokens}
        self._special.update({role: vocab[tok] for role, tok in fmt.roles.items()})
        if fmt.name == "llama3":
            self._special.update({t: vocab[t] for t in SPECIAL_TOKENS if t in vocab})
        self.sound: SoundVocab | None = SoundVocab.from_vocab(vocab)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def train_bpe(cls, texts: Iterable[str], vocab_size: int) -> "IchigoTokenizer":
        """Byte-level BPE trained offline; the Llama-3 special tokens go after the BPE ids, as in
        Llama-3 (ids vocab_size..vocab_size+5)."""
        tk = Tokenizer(models.BPE())
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tk.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tk.train_from_iterator(texts, trainer)
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
        return cls(tk, LLAMA3_JINJA)

    @classmethod
    def from_bpe_vocab(cls, tokens: Sequence[str], merges: Sequence[str], control: Sequence[bool],
                       pre: str, chat_template: str | None, source: str) -> "IchigoTokenizer":
        """A byte-level BPE tokenizer from a vocabulary listed by id (as GGUF stores it:
        `tokenizer.ggml.tokens/merges/token_type`, `tokenizer.ggml.pre`)."""
        if pre not in BPE_PRE_TOKENIZERS:
            raise InputError(f"{source}: BPE pre-tokenizer {pre!r} is not supported; supported: "
                             f"{sorted(BPE_PRE_TOKENIZERS)}")
        vocab = {t: i for i, t in enumerate(tokens)}
        if len(vocab) != len(tokens):
            raise InputError(f"{source}: the vocabulary lists {len(tokens) - len(vocab)} duplicate tokens")
        pairs = [tuple(m.split(" ", 1)) for m in merges]
        tk = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
        tk.pre_tokenizer = BPE_PRE_TOKENIZERS[pre]()
        tk.decoder = decoders.ByteLevel()
        # control tokens keep their ids (they are already in the BPE vocabulary)
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                               for t, c in zip(tokens, control) if c])
        if tk.get_vocab_size(with_added_tokens=True) != len(tokens):
            raise InputError(f"{source}: rebuilt tokenizer has {tk.get_vocab_size(with_added_tokens=True)}"
                             f" ids, the file lists {len(tokens)}")
        return cls(tk, chat_template, source)

    @classmethod
    def load(cls, directory: str | Path) -> "IchigoTokenizer":
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: a model directory needs {TOKENIZER_FILE}")
        cfg_path = Path(directory) / TOKENIZER_CONFIG_FILE
        template = None
        if cfg_path.is_file():
            try:
                template = json.loads(cfg_path.read_text()).get("chat_template")
            except json.JSONDecodeError as e:
                raise InputError(f"{cfg_path} is not valid JSON: {e}") from None
            if isinstance(template, list):  # HF allows named templates; the default one is used
                template = next((t.get("template") for t in template if t.get("name") == "default"), None)
        return cls(Tokenizer.from_file(str(path)), template, source=str(path))

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.tk.save(str(d / TOKENIZER_FILE))
        fmt = self.chat_format
        cfg = {"chat_template": self.chat_template, "ichigo_chat_format": fmt.name,
               "eos_token": fmt.roles[EOT], "pad_token": fmt.roles[PAD],
               "bos_token": fmt.bos, "tokenizer_class": "PreTrainedTokenizerFast"}
        (d / TOKENIZER_CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")

    def with_sound_tokens(self) -> "IchigoTokenizer":
        """A copy with `<|sound_start|>`, `<|sound_end|>` and the 513 sound tokens appended."""
        if self.sound is not None:
            raise ValueError("the tokenizer already has sound tokens")
        tk = Tokenizer.from_str(self.tk.to_str())
        base = tk.get_vocab_size(with_added_tokens=True)
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in NEW_TOKENS])
        out = IchigoTokenizer(tk, self.chat_template)
        assert out.sound is not None and out.sound.start_id == base
        return out

    # -- use ------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.tk.get_vocab_size(with_added_tokens=True)

    def encode_text(self, text: str) -> list[int]:
        return self._plain.encode(text, add_special_tokens=False).ids

    def encode(self, text: str) -> list[int]:
        """Text in which special and sound token strings become their single ids."""
        return self.tk.encode(text, add_special_tokens=False).ids

    def special_id(self, token: str) -> int:
        """A control token's id; the Llama-3 names (BEGIN_OF_TEXT, EOT, ...) resolve to the base's
        equivalent token (chat_template.ChatFormat.roles)."""
        try:
            return self._special[token]
        except KeyError:
            raise KeyError(f"{token!r} is not a control token of this {self.chat_format.name} "
                           f"tokenizer; known: {sorted(self._special)}") from None

    @property
    def stop_ids(self) -> set[int]:
        return {self._special[EOT], self._special[END_OF_TEXT]}

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        return self.tk.decode(list(ids), skip_special_tokens=skip_special)


def _gpt2_pre() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def _smollm_pre() -> pre_tokenizers.PreTokenizer:
    # SmolLM/StarCoder: every digit its own piece, then GPT-2 byte-level splitting
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), _gpt2_pre()])


def _llama3_pre() -> pre_tokenizers.PreTokenizer:
    from ichigo.model.tiktoken_tokenizer import LLAMA3_PATTERN

    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


# GGUF `tokenizer.ggml.pre` names (llama.cpp's) -> the HF pre-tokenizer that splits the same way
BPE_PRE_TOKENIZERS = {"smollm": _smollm_pre, "gpt2": _gpt2_pre, "gpt-2": _gpt2_pre,
                      "default": _gpt2_pre, "llama-bpe": _llama3_pre}
