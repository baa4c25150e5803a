"""WhisperVQ (whisperspeech's RQBottleneckTransformer over a Whisper encoder): the cluster tokenizer.

Improvements over the original inference path, which this class does not share code with:
- batched encoding with per-item lengths: every item gets its own log-mel (Whisper normalises by
  the loudest value of the whole tensor, so a batched mel would make codes depend on the batch),
  is padded to the 30 s window with the same -1.5 fill, and its codes are cut at its own length;
- audio longer than `max_chunk_seconds` (<= 30 s) is chunked and the codes concatenated, never
  silently truncated at 750 tokens;
- the Whisper encoder weights come from a local file or s3:// (never a hub download): by default
  `<whisper_model_name>.pt` beside the VQ checkpoint.

Batching pays on a GPU. On a CPU it saves no arithmetic: the encoder only takes full 30 s windows
(it asserts 1500 positions) and attends over the padding without a mask, so a window costs the
same alone or in a batch, and padding to the longest item instead would change the codes. What a
batch saves there is per-call overhead and thread synchronisation (benchmarks/bench_data.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ichigo.audio import SAMPLE_RATE
from ichigo.errors import ConfigError
from ichigo.speech_tokenizer.base import encode_chunked, num_tokens
from ichigo.tts.compat import import_whisperspeech

WINDOW_SECONDS = 30.0
MEL_PAD = -1.5  # the value whisperspeech pads log-mels with (what the VQ model was trained on)


class WhisperVQTokenizer:
    kind = "whisper_vq"
    sample_rate = SAMPLE_RATE
    frame_rate = 25

    def __init__(self, vq_model, whisper_model, batch_size: int = 16,
                 max_chunk_seconds: float = WINDOW_SECONDS, device: str = "cpu"):
        import torch
        self.torch = torch
        self.vq = vq_model.to(device).eval()
        self.whisper = whisper_model.to(device).eval()
        self.vq.whmodel = [self.whisper]  # what ensure_whisper() would download; we supply it
        self.device = device
        self.batch_size = batch_size
        self.max_chunk_seconds = min(max_chunk_seconds, WINDOW_SECONDS)
        if self.vq.stoks_per_sec != self.frame_rate:
            raise ConfigError(f"VQ model gives {self.vq.stoks_per_sec} tokens/s; the platform needs 25 "
                              "(Whisper encoder with downsample 2)")

    @classmethod
    def load(cls, vq_checkpoint: str | Path, whisper_checkpoint: str | Path | None = None,
             batch_size: int = 16, max_chunk_seconds: float = WINDOW_SECONDS,
             device: str = "cpu") -> "WhisperVQTokenizer":
        import torch
        import whisper

        from ichigo.storage import fetch
        vq_mod = import_whisperspeech("vq_stoks")
        vq_path = fetch(str(vq_checkpoint))
        try:
            # weights_only: a checkpoint from S3 / a package must not be able to run code (issue #17);
            # it holds only a state dict and JSON-like config/tunables dicts
            spec = torch.load(vq_path, map_location="cpu", weights_only=True)
            vq = vq_mod.RQBottleneckTransformer(**spec["config"], tunables=vq_mod.Tunables(
                **vq_mod.Tunables.upgrade(spec.get("tunables", {}))))
            vq.load_state_dict(spec["state_dict"])
        except Exception as e:
            raise ConfigError(f"{vq_checkpoint} is not a WhisperVQ checkpoint ({type(e).__name__}: {e})") from None
        if whisper_checkpoint is None:
            name = Path(str(spec["config"].get("whisper_model_name", "medium"))).name
            name = name if name.endswith(".pt") else name + ".pt"
            whisper_checkpoint = str(vq_checkpoint).rsplit("/", 1)[0] + "/" + name \
                if "/" in str(vq_checkpoint) else name
        wh_path = fetch(str(whisper_checkpoint))
        wh = whisper.load_model(str(wh_path), device=device)  # torch.load(weights_only=True) inside
        return cls(vq, wh, batch_size=batch_size, max_chunk_seconds=max_chunk_seconds, device=device)

    def _mels(self, pieces: list[np.ndarray]):
        """(B, n_mels, 3000) log-mels, one STFT call for the batch, normalised per item.

        Whisper scales by the loudest value of its input tensor; doing that per row (over the
        item's own frames) keeps each item's codes independent of what it is batched with.
        """
        import whisper.audio as wa
        torch = self.torch
        n_mels = self.whisper.dims.n_mels
        # zeros after every item (>= one window) so that its frames never see a neighbour's
        # reflection: the same values whichever batch it is in; only the longest item sets the size
        longest = min(wa.N_SAMPLES, max(len(p) for p in pieces))
        x = torch.zeros(len(pieces), longest + wa.N_FFT)
        valid = []
        for i, p in enumerate(pieces):
            x[i, : len(p)] = torch.from_numpy(p[: wa.N_SAMPLES])
            valid.append(min(wa.N_FRAMES, max(1, len(p) // wa.HOP_LENGTH)))
        stft = torch.stft(x, wa.N_FFT, wa.HOP_LENGTH, window=torch.hann_window(wa.N_FFT),
                          return_complex=True)
        mel = wa.mel_filters("cpu", n_mels) @ (stft[..., :-1].abs() ** 2)
        log_spec = torch.clamp(mel, min=1e-10).log10()
        n = min(log_spec.shape[-1], wa.N_FRAMES)
        log_spec = log_spec[..., :n]
        is_valid = torch.arange(n)[None, :] < torch.tensor(valid)[:, None]
        peak = torch.where(is_valid[:, None, :], log_spec, torch.tensor(-1e9)).amax(dim=(1, 2))
        log_spec = torch.maximum(log_spec, (peak - 8.0)[:, None, None])
        log_spec = torch.where(is_valid[:, None, :], (log_spec + 4.0) / 4.0, torch.tensor(MEL_PAD))
        out = torch.full((len(pieces), n_mels, wa.N_FRAMES), MEL_PAD)
        out[..., :n] = log_spec
        return out

    def _encode_pieces(self, pieces: list[np.ndarray]) -> list[list[int]]:
        torch = self.torch
        out = []
        with torch.inference_mode():
            for s in range(0, len(pieces), self.batch_size):
                batch = pieces[s:s + self.batch_size]
                embs = self.whisper.encoder(self._mels(batch).to(self.device))
                codes = self.vq.quantize(embs).cpu()
                for p, c in zip(batch, codes):
                    out.append([int(x) for x in c[: num_tokens(len(p))]])
        return out

    def encode_batch(self, waves: Sequence[np.ndarray]) -> list[list[int]]:
        return encode_chunked(waves, self.max_chunk_seconds, self._encode_pieces)

    def encode(self, wave: np.ndarray) -> list[int]:
        return self.encode_batch([wave])[0]

    def save(self, path: str | Path) -> Path:
        """Writes the VQ checkpoint and `<stem>.whisper.pt` beside it (both load offline)."""
        torch = self.torch
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        wh_path = path.with_name(path.stem + ".whisper.pt")
        torch.save({"dims": dataclasses.asdict(self.whisper.dims),
                    "model_state_dict": self.whisper.state_dict()}, wh_path)
        # plain JSON-able values only, so that load() can use torch.load(weights_only=True)
        config = json.loads(json.dumps(dict(self.vq.__stored_args__, whisper_model_name=wh_path.name)))
        torch.save({"config": config, "tunables": json.loads(json.dumps(dataclasses.asdict(self.vq.tunables))),
                    "state_dict": self.vq.state_dict()}, path)
        return path


def build_random_whisper_vq(width: int = 64, heads: int = 2, layers: int = 1, codebook_dim: int = 16,
                            seed: int = 0, batch_size: int = 16,
                            max_chunk_seconds: float = WINDOW_SECONDS) -> WhisperVQTokenizer:
    """The real architecture at small dimensions with random weights (tests, benchmarks)."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    vq_mod = import_whisperspeech("vq_stoks")
    torch.manual_seed(seed)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=width, n_audio_head=heads,
                           n_audio_layer=layers, n_vocab=51865, n_text_ctx=448, n_text_state=width,
                           n_text_head=heads, n_text_layer=1)
    vq = vq_mod.RQBottleneckTransformer(
        vq_codes=512, q_depth=1, depth=1, n_head=heads, head_width=width // heads,
        codebook_dim=codebook_dim, downsample=2, threshold_ema_dead_code=0, use_cosine_sim=True,
        whisper_model_name="random", tunables=vq_mod.Tunables())
    return WhisperVQTokenizer(vq, Whisper(dims), batch_size=batch_size,
                              max_chunk_seconds=max_chunk_seconds)
