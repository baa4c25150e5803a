"""A text tokenizer in HF `tokenizer.json` form in which every special and sound token is one id.

Two views of the same vocabulary: the full tokenizer (special and sound tokens are matched as
single ids, as any HF consumer of the saved file sees them) and a plain one without added tokens
that `encode_text` uses, so that user text containing e.g. "<|eot_id|>" stays literal bytes and
cannot inject control tokens. Special tokens only ever enter through `special_id` / SoundVocab.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from ichigo.chat_template import EOT, END_OF_TEXT, SPECIAL_TOKENS
from ichigo.sound_tokens import NEW_TOKENS, SoundVocab

TOKENIZER_FILE = "tokenizer.json"


class IchigoTokenizer:
    def __init__(self, tk: Tokenizer):
        self.tk = tk
        data = json.loads(tk.to_str())
        data["added_tokens"] = []
        self._plain = Tokenizer.from_str(json.dumps(data))
        vocab = tk.get_vocab(with_added_tokens=True)
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(f"tokenizer lacks the Llama-3 special tokens {missing}")
        self._special = {t: vocab[t] for t in SPECIAL_TOKENS}
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
        return cls(tk)

    @classmethod
    def load(cls, directory: str | Path) -> "IchigoTokenizer":
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: a model directory needs {TOKENIZER_FILE}")
        return cls(Tokenizer.from_file(str(path)))

    def save(self, directory: str | Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.tk.save(str(Path(directory) / TOKENIZER_FILE))

    def with_sound_tokens(self) -> "IchigoTokenizer":
        """A copy with `<|sound_start|>`, `<|sound_end|>` and the 513 sound tokens appended."""
        if self.sound is not None:
            raise ValueError("the tokenizer already has sound tokens")
        tk = Tokenizer.from_str(self.tk.to_str())
        base = tk.get_vocab_size(with_added_tokens=True)
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in NEW_TOKENS])
        out = IchigoTokenizer(tk)
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
        return self._special[token]

    @property
    def stop_ids(self) -> set[int]:
        return {self._special[EOT], self._special[END_OF_TEXT]}

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        return self.tk.decode(list(ids), skip_special_tokens=skip_special)
