"""The same vocabulary in Llama-3's tiktoken form: a rank file (`tokenizer.model`, one
`base64(token bytes) rank` per line) plus the special tokens, every special and sound token ONE id
with the ids of the HF `tokenizer.json` form.

Llama-3's own `tokenizer.model` holds 128000 BPE ranks; its 256 specials (ids 128000..128255) are
defined in code, not in the file. For such a file the canonical Llama-3 specials are used, and the
sound tokens follow at 128256.. as in the HF form. For any other rank file (e.g. the embedded
model's BPE exported by `export_tiktoken`) the specials are read from `special_tokens.json` beside it.

`encode_text` never turns special-token strings in user text into control ids (like
`IchigoTokenizer.encode_text`), so `tokenize_chat` gives the same ids with either tokenizer.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import tiktoken
from tiktoken.load import dump_tiktoken_bpe, load_tiktoken_bpe

from ichigo.chat_template import EOT, END_OF_TEXT, LLAMA3, SPECIAL_TOKENS
from ichigo.errors import InputError
from ichigo.sound_tokens import NEW_TOKENS, SoundVocab

RANK_FILE = "tokenizer.model"
SPECIALS_FILE = "special_tokens.json"
LLAMA3_NUM_RANKS = 128_000
# Llama-3's pre-tokenizer regex (cl100k-style, digits in groups of up to 3)
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# HF ByteLevel(use_regex=True) splits with the GPT-2 regex
GPT2_PATTERN = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def llama3_special_tokens() -> dict[str, int]:
    """Canonical Llama-3.1 specials (ids 128000..128255)."""
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
             "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(2, 2 + 256 - len(names))]
    return {n: LLAMA3_NUM_RANKS + i for i, n in enumerate(names)}


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of the GPT-2 byte->printable-char table that HF byte-level BPE vocabularies use."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _hf_pattern(tk_json: dict) -> str:
    """The split regex of a byte-level HF tokenizer (ours: GPT-2; Llama-3's: a Split regex)."""
    pre = tk_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    for s in steps:
        if s.get("type") == "Split":
            return s["pattern"].get("Regex") or s["pattern"]["String"]
    if any(s.get("type") == "ByteLevel" and s.get("use_regex", True) for s in steps):
        return GPT2_PATTERN
    raise InputError("tokenizer.json has no byte-level pre-tokenizer this exporter understands "
                     f"(got {pre.get('type')!r}); only byte-level BPE has a tiktoken form")


def export_tiktoken(hf_tokenizer, directory: str | Path) -> Path:
    """Write `tokenizer.model` (ranks = HF ids) and `special_tokens.json` for an IchigoTokenizer.
    Returns the rank file path."""
    data = json.loads(hf_tokenizer.tk.to_str())
    model = data["model"]
    if model.get("type") != "BPE":
        raise InputError(f"only BPE tokenizers have a tiktoken form, not {model.get('type')}")
    u2b = _unicode_to_byte()
    ranks: dict[bytes, int] = {}
    for token, idx in model["vocab"].items():
        try:
            ranks[bytes(u2b[ch] for ch in token)] = idx
        except KeyError:
            raise InputError(f"vocabulary entry {token!r} is not byte-level BPE") from None
    specials = {t["content"]: t["id"] for t in data.get("added_tokens", [])}
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    dump_tiktoken_bpe(ranks, str(d / RANK_FILE))
    meta = {"pattern": _hf_pattern(data), "special_tokens": specials}
    (d / SPECIALS_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return d / RANK_FILE


class TiktokenTokenizer:
    """Same interface as IchigoTokenizer (`encode_text`, `encode`, `special_id`, `sound`,
    `decode`, `vocab_size`, `stop_ids`), backed by tiktoken."""

    def __init__(self, ranks: dict[bytes, int], special_tokens: dict[str, int], pattern: str,
                 name: str = "ichigo"):
        missing = [t for t in SPECIAL_TOKENS if t not in special_tokens]
        if missing:
            raise InputError(f"tiktoken specials lack the Llama-3 tokens {missing}")
        self.enc = tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks,
                                     special_tokens=special_tokens)
        self._special = dict(special_tokens)
        self._special_ids = set(special_tokens.values())
        self.chat_format = LLAMA3  # the tiktoken form exists for Llama-3-layout vocabularies only
        self.sound: SoundVocab | None = SoundVocab.from_vocab(special_tokens)

    @classmethod
    def load(cls, path: str | Path) -> "TiktokenTokenizer":
        """A model directory or a rank file. Without `special_tokens.json` beside it the file must be
        Llama-3's (128000 ranks): the canonical specials are used, plus the sound tokens at 128256.."""
        p = Path(path)
        rank_file = p / RANK_FILE if p.is_dir() else p
        if not rank_file.is_file():
            raise InputError(f"{rank_file} not found: expected a tiktoken rank file")
        ranks = load_tiktoken_bpe(str(rank_file))
        meta_file = rank_file.parent / SPECIALS_FILE
        if meta_file.is_file():
            meta = json.loads(meta_file.read_text())
            return cls(ranks, meta["special_tokens"], meta["pattern"])
        if len(ranks) != LLAMA3_NUM_RANKS:
            raise InputError(f"{rank_file} has {len(ranks)} ranks and no {SPECIALS_FILE}: only "
                             f"Llama-3's {LLAMA3_NUM_RANKS}-rank file implies its special tokens")
        specials = llama3_special_tokens()
        base = max(specials.values()) + 1
        specials.update({t: base + i for i, t in enumerate(NEW_TOKENS)})
        return cls(ranks, specials, LLAMA3_PATTERN, name="llama3")

    @property
    def vocab_size(self) -> int:
        return self.enc.n_vocab

    def encode_text(self, text: str) -> list[int]:
        # disallowed_special=() keeps "<|eot_id|>" typed by a user as plain bytes
        return self.enc.encode(text, allowed_special=set(), disallowed_special=())

    def encode(self, text: str) -> list[int]:
        """Text in which special and sound token strings become their single ids."""
        return self.enc.encode(text, allowed_special="all")

    def special_id(self, token: str) -> int:
        return self._special[token]

    @property
    def stop_ids(self) -> set[int]:
        return {self._special[EOT], self._special[END_OF_TEXT]}

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        ids = [i for i in ids if not (skip_special and i in self._special_ids)]
        return self.enc.decode(ids)
