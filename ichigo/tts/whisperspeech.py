"""WhisperSpeech backend (the cluster default): t2s -> s2a -> Vocos, 24 kHz resampled to 16 kHz.

Weights come only from `tts.model_cache` (a local directory or an s3:// prefix), never a hub:

    t2s.model                      whisperspeech TSARTransformer checkpoint (e.g. t2s-v1.1-small-en+pl)
    s2a.model                      whisperspeech SADelARTransformer checkpoint (e.g. s2a-q4-tiny-en+pl)
    vocos/config.yaml              charactr/vocos-encodec-24khz config
    vocos/pytorch_model.bin        its weights
    encodec_24khz-d7cc33bc.th      the EnCodec checkpoint Vocos' feature extractor loads
    speakers/<voice>.pt            optional 192-dim speaker embeddings; voice "default" is built in

whisperspeech generates one text at a time (its batch size means copies of one text), so a batch
runs t2s/s2a per text and decodes all acoustic tokens in one padded Vocos call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ichigo.audio import SAMPLE_RATE, to_16k
from ichigo.errors import ConfigError, InputError
from ichigo.tts.base import VoiceSpec, check_texts
from ichigo.tts.compat import import_whisperspeech

NATIVE_RATE = 24_000
SAMPLES_PER_ATOK = 320  # EnCodec 24 kHz: 75 acoustic frames per second
REQUIRED = ("t2s.model", "s2a.model", "vocos/config.yaml", "vocos/pytorch_model.bin",
            "encodec_24khz-d7cc33bc.th")


def resolve_model_cache(model_cache: str | None) -> Path:
    """Fetch (s3) or locate (local) the weights directory and check that every file is there."""
    if not model_cache:
        raise ConfigError("tts.model_cache is required for the whisperspeech backend "
                          "(a local directory or s3:// prefix holding " + ", ".join(REQUIRED) + ")")
    from ichigo.storage import fetch
    try:
        root = fetch(model_cache)
    except InputError as e:
        raise ConfigError(f"tts.model_cache: {e}") from None
    missing = [f for f in REQUIRED if not (root / f).is_file()]
    if missing:
        raise ConfigError(f"tts.model_cache {model_cache} lacks {', '.join(missing)} "
                          "(copy them from the WhisperSpeech / Vocos / EnCodec releases)")
    return root


def load_vocos(root: Path, device: str):
    """Vocos from local files; its EnCodec feature extractor reads the checkpoint from `root`."""
    import torch
    from encodec import EncodecModel
    from vocos import Vocos
    from vocos.feature_extractors import EncodecFeatures

    original = EncodecModel._get_pretrained
    EncodecModel._get_pretrained = staticmethod(
        lambda name, repository=None: torch.load(root / name, map_location="cpu"))
    try:
        model = Vocos.from_hparams(str(root / "vocos/config.yaml"))
    finally:
        EncodecModel._get_pretrained = original
    state = torch.load(root / "vocos/pytorch_model.bin", map_location="cpu")
    if isinstance(model.feature_extractor, EncodecFeatures):  # as Vocos.from_pretrained does
        state.update({"feature_extractor.encodec." + k: v
                      for k, v in model.feature_extractor.encodec.state_dict().items()})
    model.load_state_dict(state)
    return model.eval().to(device)


class WhisperSpeechTTS:
    sample_rate = SAMPLE_RATE

    def __init__(self, model_cache: str, device: str | None = None, batch_size: int = 8,
                 cps: float = 15.0, lang: str = "en"):
        import torch
        self.torch = torch
        self.root = resolve_model_cache(model_cache)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size, self.cps, self.lang = batch_size, cps, lang
        t2s_mod = import_whisperspeech("t2s_up_wds_mlang_enclm")
        s2a_mod = import_whisperspeech("s2a_delar_mup_wds_mlang")
        pipeline = import_whisperspeech("pipeline")
        self._default_speaker = pipeline.Pipeline.default_speaker
        self.t2s = t2s_mod.TSARTransformer.load_model(local_filename=str(self.root / "t2s.model"),
                                                      device=self.device)
        self.s2a = s2a_mod.SADelARTransformer.load_model(local_filename=str(self.root / "s2a.model"),
                                                         device=self.device)
        if self.device == "cuda":  # fp16 + KV caches; on CPU the models stay fp32
            self.t2s.optimize(torch_compile=False)
            self.s2a.optimize(torch_compile=False)
        self.vocos = load_vocos(self.root, self.device)
        self._speakers: dict[str, object] = {}

    def speaker(self, voice: str):
        name = VoiceSpec.parse(voice).name
        if name == "default":
            return self._default_speaker
        if name not in self._speakers:
            path = self.root / "speakers" / f"{name}.pt"
            if not path.is_file():
                have = sorted(p.stem for p in (self.root / "speakers").glob("*.pt"))
                raise InputError(f"no speaker embedding for voice {name!r}; available: "
                                 f"{['default', *have]}")
            self._speakers[name] = self.torch.load(path, map_location="cpu").float().reshape(-1)
        return self._speakers[name]

    def _decode(self, atoks_list: list) -> list[np.ndarray]:
        """One padded Vocos call for the batch; each output cut at its own length."""
        torch = self.torch
        q = atoks_list[0].shape[0]
        longest = max(a.shape[-1] for a in atoks_list)
        batch = torch.zeros((len(atoks_list), q, longest), dtype=torch.long)
        for i, a in enumerate(atoks_list):
            batch[i, :, : a.shape[-1]] = a.cpu()
        with torch.inference_mode():
            feats = self.vocos.codes_to_features(batch.permute(1, 0, 2).to(self.device))
            audio = self.vocos.decode(feats, bandwidth_id=torch.tensor({2: 0, 4: 1, 8: 2}[q], device=self.device))
        return [to_16k(audio[i, : a.shape[-1] * SAMPLES_PER_ATOK].float().cpu().numpy(), NATIVE_RATE)
                for i, a in enumerate(atoks_list)]

    def synthesize(self, texts: list[str], voice: str) -> list[np.ndarray]:
        texts = check_texts(texts)
        spk = self.speaker(voice)
        out: list[np.ndarray] = []
        for s in range(0, len(texts), self.batch_size):
            atoks = []
            for text in texts[s:s + self.batch_size]:
                stoks = self.t2s.generate(text, cps=self.cps, lang=self.lang, show_progress_bar=False)[0]
                atoks.append(self.s2a.generate(stoks, spk.unsqueeze(0), show_progress_bar=False)[0])
            out.extend(self._decode(atoks))
        return out
