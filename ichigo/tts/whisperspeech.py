"""WhisperSpeech backend (the cluster default): t2s -> s2a -> Vocos, 24 kHz resampled to 16 kHz.

Weights come only from `tts.model_cache` (a local directory or an s3:// prefix), never a hub:

    t2s.model                      whisperspeech TSARTransformer checkpoint (e.g. t2s-v1.1-small-en+pl)
    s2a.model                      whisperspeech SADelARTransformer checkpoint (e.g. s2a-q4-tiny-en+pl)
    vocos/config.yaml              charactr/vocos-encodec-24khz config
    vocos/pytorch_model.bin        its weights
    encodec_24khz-d7cc33bc.th      the EnCodec checkpoint Vocos' feature extractor loads
    speakers/<voice>.pt            optional 192-dim speaker embeddings; voice "default" is built in

The checkpoints are read from those files and handed to whisperspeech's `load_model(spec=...)`,
so its hub download path is never reached. `build_random_whisperspeech` writes the same files
with tiny random-weight models (tests, benchmarks).

Batching: whisperspeech's `generate` runs one text at a time (its `bs` means copies of one text).
`synthesize` instead runs each stage over a batch of texts: T2S over the batch (one encoder pass,
one decoder step per token for every row, each row stopping at its own end token or length cap),
S2A over the batch (each row generates its own 3 acoustic frames per semantic token and is cut at
its own length), and one padded Vocos call. Texts are sorted by length first so that a batch
holds similar lengths. The decoders' cross-attention keys/values are computed once per
generation instead of at every step (`_cache_cross_attention`). Rows never interact (attention is per row, positions are shared), so with
greedy decoding (`temperature=0`) the batched path gives the tokens of the one-at-a-time path
(`synthesize(..., batched=False)`, which calls whisperspeech's own `generate`).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ichigo.audio import SAMPLE_RATE, to_16k
from ichigo.errors import ConfigError, InputError
from ichigo.tts.base import VoiceSpec, check_texts
from ichigo.tts.compat import import_whisperspeech, install_shims

NATIVE_RATE = 24_000
SAMPLES_PER_ATOK = 320  # EnCodec 24 kHz: 75 acoustic frames per second
STOKS_PER_SECOND = 25   # semantic tokens (WhisperVQ at 25 Hz); S2A makes 3 acoustic frames of each
ENCODEC_CHECKPOINT = "encodec_24khz-d7cc33bc.th"
REQUIRED = ("t2s.model", "s2a.model", "vocos/config.yaml", "vocos/pytorch_model.bin", ENCODEC_CHECKPOINT)


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


def _patched_encodec(state_for):
    """Context: EnCodec's pretrained loader returns `state_for(name)` instead of downloading."""
    from contextlib import contextmanager

    install_shims()  # encodec imports torchaudio
    from encodec import EncodecModel

    @contextmanager
    def ctx():
        original = EncodecModel._get_pretrained
        EncodecModel._get_pretrained = staticmethod(lambda name, repository=None: state_for(name))
        try:
            yield
        finally:
            EncodecModel._get_pretrained = original
    return ctx()


def load_vocos(root: Path, device: str):
    """Vocos from local files; its EnCodec feature extractor reads the checkpoint from `root`."""
    import torch
    install_shims()  # vocos imports torchaudio
    from vocos import Vocos
    from vocos.feature_extractors import EncodecFeatures

    with warnings.catch_warnings(), \
            _patched_encodec(lambda name: torch.load(root / name, map_location="cpu")):
        warnings.filterwarnings("ignore", message=".*weight_norm.*")  # encodec's deprecated call
        model = Vocos.from_hparams(str(root / "vocos/config.yaml"))
    state = torch.load(root / "vocos/pytorch_model.bin", map_location="cpu")
    if isinstance(model.feature_extractor, EncodecFeatures):  # as Vocos.from_pretrained does
        state.update({"feature_extractor.encodec." + k: v
                      for k, v in model.feature_extractor.encodec.state_dict().items()})
    model.load_state_dict(state)
    return model.eval().to(device)


def _load_checkpoint(cls, path: Path, device: str):
    """A whisperspeech model from a local checkpoint file (never the hub: `spec=` is passed)."""
    import torch
    try:
        spec = torch.load(path, map_location="cpu")
        if any(k.startswith("cond_embeddings.") for k in spec["state_dict"]):
            raise ConfigError(f"{path}: conditioned S2A checkpoints (s2a_delar_mup_wds_mlang_cond) "
                              "are not supported; use an s2a-q4-* model")
        return cls.load_model(spec=spec, device=device)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"{path} is not a whisperspeech {cls.__name__} checkpoint "
                          f"({type(e).__name__}: {e})") from None


def _cache_cross_attention(decoder) -> None:
    """Let the decoder's cross-attention layers project the encoder output once per generation.

    whisperspeech recomputes the cross-attention keys/values (a projection and rotary embedding
    of every encoder position, written into a cache) at every decoding step: its `cached_kvx`
    shortcut is never set and would fail if it were. Here each layer keeps the keys/values of the
    last encoder output it saw and reuses them while the input is equal (compared exactly, so a
    new text or batch always recomputes). Same operations on the same values: the tokens do not
    change; both the batched and the one-at-a-time path get it.
    """
    import torch
    import torch.nn.functional as F
    modules = import_whisperspeech("modules")

    class CachedCrossAttention(modules.MultiHeadAttention):
        _kv_stash = None

        def forward(self, qx, q_positions, kvx, kv_positions, causal=False, mask=None):
            if self.kv is None or causal or mask is not None:  # not converted for eval: as upstream
                return super().forward(qx, q_positions, kvx, kv_positions, causal, mask)
            st = self._kv_stash  # (input object, its copy, positions, keys, values)
            if st is None or not (st[0] is kvx or (st[1].shape == kvx.shape and torch.equal(st[1], kvx))) \
                    or not torch.equal(st[2], kv_positions):  # S2A passes the same object, T2S a clone
                k, v = self.kv(kvx).split(self.odim, dim=-1)
                k = self.split_heads(k, kv_positions, rope=self.rotary, subsampling=self.key_subsampling)
                v = self.split_heads(v, kv_positions)
                st = self._kv_stash = (kvx, kvx.clone(), kv_positions.clone(), k, v)
            q = self.split_heads(self.q(qx), q_positions, rope=self.rotary, subsampling=self.query_subsampling)
            wv = F.scaled_dot_product_attention(q, st[3], st[4], dropout_p=0)
            return self.out(wv.permute(0, 2, 1, 3).flatten(start_dim=2))

    for layer in decoder.layers:
        if layer.cross_attn is not None:
            layer.cross_attn.__class__ = CachedCrossAttention
            layer.cross_attn.k_cache = layer.cross_attn.v_cache = None  # replaced by the stash


class WhisperSpeechTTS:
    """Batched WhisperSpeech synthesis (see the module docstring).

    temperature / top_k: sampling of both T2S and S2A (whisperspeech's defaults: 0.7 / none);
    0 is greedy. max_duration_factor: T2S stops at its end token or after
    `len(text) / cps * factor + 1` seconds of semantic tokens, whichever comes first (a trained
    model ends on its own; the cap bounds a runaway or untrained one).
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, model_cache: str, device: str | None = None, batch_size: int = 8,
                 cps: float = 15.0, lang: str = "en", temperature: float = 0.7,
                 top_k: int | None = None, max_duration_factor: float = 2.0):
        import torch
        self.torch = torch
        self.root = resolve_model_cache(model_cache)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size, self.cps, self.lang = batch_size, cps, lang
        self.temperature, self.top_k, self.max_duration_factor = temperature, top_k, max_duration_factor
        t2s_mod = import_whisperspeech("t2s_up_wds_mlang_enclm")
        s2a_mod = import_whisperspeech("s2a_delar_mup_wds_mlang")
        languages = import_whisperspeech("languages")
        try:
            self._lang_id = languages.to_id(lang)
        except KeyError:
            raise ConfigError(f"whisperspeech does not know language {lang!r}") from None
        self._default_speaker = import_whisperspeech("pipeline").Pipeline.default_speaker
        self._inference = import_whisperspeech("inference")  # on CUDA: the math SDPA kernel, as upstream
        self.t2s = _load_checkpoint(t2s_mod.TSARTransformer, self.root / "t2s.model", self.device)
        self.s2a = _load_checkpoint(s2a_mod.SADelARTransformer, self.root / "s2a.model", self.device)
        if self.s2a.stoks_len == 1500 or self.s2a.stoks_len < self.t2s.stoks_len:
            raise ConfigError(f"s2a.model takes {self.s2a.stoks_len} semantic tokens (needs 25 Hz "
                              f"tokens and at least the t2s length {self.t2s.stoks_len})")
        # KV caches for `batch_size` rows (fp16 on GPU, fp32 on CPU); without them whisperspeech's
        # decoders attend to the current token only, and S2A needs the `dtype` this sets
        dtype = torch.float16 if str(self.device).startswith("cuda") else torch.float32
        self.t2s.optimize(max_batch_size=batch_size, dtype=dtype, torch_compile=False)
        self.s2a.optimize(max_batch_size=batch_size, dtype=dtype, torch_compile=False)
        _cache_cross_attention(self.t2s.decoder)
        _cache_cross_attention(self.s2a.decoder)
        self.t2s.ensure_tokenizer()
        self.vocos = load_vocos(self.root, self.device)
        self._speakers: dict[str, object] = {}

    # ---- inputs ----
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

    def _check_lengths(self, texts: list[str]) -> None:
        limit = self.t2s.ttoks_len - 1
        for i, t in enumerate(texts):
            n = len(self.t2s.tokenizer.encode(t))
            if n > limit:
                raise InputError(f"text {i} is {n} bytes; the T2S model reads at most {limit} "
                                 "(split it into sentences)")

    def max_stoks(self, text: str) -> int:
        """The T2S length cap for `text`, in semantic tokens (25 per second)."""
        seconds = len(text) / self.cps * self.max_duration_factor + 1.0
        return max(2, min(self.t2s.stoks_len - 1, math.ceil(seconds * STOKS_PER_SECOND)))

    def _semantic(self, i: int, stoks):
        """T2S output made safe for S2A: the end token is never a semantic code."""
        stoks = stoks.clamp(max=self.s2a.stoks_codes - 1)
        if stoks.shape[-1] < 2:
            raise InputError(f"text {i}: the T2S model ended before producing speech")
        return stoks

    # ---- batched stages ----
    def t2s_batch(self, texts: list[str]) -> list:
        """Semantic tokens for each text, one T2S pass over the batch."""
        torch, m = self.torch, self.t2s
        dev = m.device
        eot = m.stoks_codes + m.tunables.padding_token_offset  # also the start token
        n = len(texts)
        ttoks = torch.full((n, m.ttoks_len), m.tokenizer.eot, dtype=torch.long, device=dev)
        for b, t in enumerate(texts):  # as generate(): one pad, the text, pads
            enc = m.tokenizer.encode(t)
            ttoks[b, 1:1 + len(enc)] = torch.tensor(enc, device=dev)
        langs = torch.full((n,), self._lang_id, dtype=torch.long, device=dev)
        cpss = torch.tensor([self.cps] * n, device=dev)
        caps = torch.tensor([self.max_stoks(t) for t in texts], device=dev)
        N = int(caps.max()) + 1
        T = torch.tensor(self.temperature, device=dev)
        toks = torch.zeros((n, N), dtype=torch.long, device=dev)
        toks[:, 0] = eot
        positions = torch.arange(N + 1, device=dev)
        ends = caps + 1  # exclusive end in `toks`: the cap unless an end token comes first
        with torch.inference_mode(), self._inference.inference_context():  # as generate()
            xenc, xenc_positions, cps_emb = m.run_encoder(ttoks, langs, cpss)
            toks[:, 1] = m.generate_one(toks[:, :1].contiguous(), positions[:1], cps_emb, xenc,
                                        xenc_positions, T, self.top_k)[:, 0]
            for i in range(1, N - 1):
                toks[:, i + 1] = m.generate_next(toks[:, i:i + 1], positions[i:i + 1], cps_emb, xenc,
                                                 xenc_positions, T, self.top_k)[:, 0]
                # like generate(): a row ends at its first end token after the first one
                ends = torch.where((toks[:, i + 1] == eot) & (ends > i + 1), torch.full_like(ends, i + 1), ends)
                if bool((ends <= i + 1).all()):
                    break
        return [toks[b, 1:int(ends[b])].clone() for b in range(n)]

    def s2a_batch(self, stoks_list: list, speaker) -> list:
        """Acoustic tokens (quantizers, frames) per item, one S2A pass over the batch."""
        torch, m = self.torch, self.s2a
        dev = m.device
        n = len(stoks_list)
        stoks = torch.full((n, m.stoks_len), m.stoks_codes - 1, dtype=torch.long, device=dev)
        for b, s in enumerate(stoks_list):  # as generate(): one pad, the tokens, pads
            stoks[b, 1:1 + len(s)] = s.to(dev)
        speakers = speaker.to(device=dev, dtype=m.dtype).reshape(1, -1).repeat(n, 1)
        lengths = [3 * len(s) for s in stoks_list]
        N = max(lengths)
        toks = torch.full((n, m.quantizers, m.ctx_n), m.codes + 1, dtype=torch.long, device=dev)
        T = torch.tensor(self.temperature, device=dev)
        positions = torch.arange(N, device=dev)
        with torch.inference_mode(), self._inference.inference_context():  # as generate()
            xenc, xenc_positions, _ = m.run_encoder(stoks, speakers)
            toks[:, :1, 1:2] = m.generate_one(toks[:, :, :1], positions[:1], None, xenc, xenc_positions,
                                              T, self.top_k)[:, :1]
            for i in range(2, min(N, m.ctx_n - 1)):
                toks[:, :i, i:i + 1] = m.generate_next(toks[:, :, i - 1:i], positions[i - 1:i], None, xenc,
                                                       xenc_positions, T, self.top_k)[:, :i]
        out = []
        for b, length in enumerate(lengths):  # undo the delay pattern exactly as generate() does
            a = toks[b, :, 1:length].clone()
            for j in range(m.quantizers):
                a[j] = torch.roll(a[j], -j)
            out.append(a[:, :length - 4])
        return out

    def _decode(self, atoks_list: list) -> list[np.ndarray]:
        """One padded Vocos call for the batch; each output cut at its own length."""
        torch = self.torch
        q = atoks_list[0].shape[0]
        longest = max(a.shape[-1] for a in atoks_list)
        batch = torch.zeros((len(atoks_list), q, longest), dtype=torch.long)
        for i, a in enumerate(atoks_list):
            # S2A may sample its 2 special codes (1024 end, 1025 start); they are not EnCodec codes
            batch[i, :, : a.shape[-1]] = a.cpu().clamp(0, 1023)
        with torch.inference_mode():
            feats = self.vocos.codes_to_features(batch.permute(1, 0, 2).to(self.device))
            audio = self.vocos.decode(feats, bandwidth_id=torch.tensor({2: 0, 4: 1, 8: 2}[q], device=self.device))
        return [to_16k(audio[i, : a.shape[-1] * SAMPLES_PER_ATOK].float().cpu().numpy(), NATIVE_RATE)
                for i, a in enumerate(atoks_list)]

    # ---- the interface ----
    def synthesize(self, texts: list[str], voice: str, batched: bool = True) -> list[np.ndarray]:
        """16 kHz float32 waves, one per text. `batched=False`: whisperspeech's own `generate`,
        one text at a time through T2S, S2A and Vocos (the reference the batched path matches)."""
        texts = check_texts(texts)
        spk = self.speaker(voice)
        self._check_lengths(texts)
        if not batched:
            return [self._one(i, t, spk) for i, t in enumerate(texts)]
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[np.ndarray | None] = [None] * len(texts)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            stoks = [self._semantic(i, st) for i, st in zip(idx, self.t2s_batch([texts[i] for i in idx]))]
            for i, w in zip(idx, self._decode(self.s2a_batch(stoks, spk))):
                out[i] = w
        return out  # type: ignore[return-value]

    def _one(self, i: int, text: str, spk) -> np.ndarray:
        stoks = self.t2s.generate(text, cps=self.cps, lang=self.lang, N=self.max_stoks(text) + 1,
                                  T=self.temperature, top_k=self.top_k, show_progress_bar=False)[0]
        atoks = self.s2a.generate(self._semantic(i, stoks), spk.unsqueeze(0), T=self.temperature,
                                  top_k=self.top_k, show_progress_bar=False)[0]
        return self._decode([atoks])[0]


VOCOS_CONFIG = """\
feature_extractor:
  class_path: vocos.feature_extractors.EncodecFeatures
  init_args:
    encodec_model: encodec_24khz
    bandwidths: [1.5, 3.0, 6.0, 12.0]
    train_codebooks: false
backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 128
    dim: {dim}
    intermediate_dim: {intermediate}
    num_layers: {layers}
    adanorm_num_embeddings: 4
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: {dim}
    n_fft: 1280
    hop_length: 320
    padding: same
"""


def build_random_whisperspeech(root: str | Path, n_head: int = 2, head_width: int = 16, depth: int = 2,
                               ttoks_len: int = 160, stoks_len: int = 250, vocos_dim: int = 32,
                               speakers: tuple[str, ...] = ("random",), seed: int = 0) -> Path:
    """A `tts.model_cache` directory with whisperspeech's own T2S / S2A classes and Vocos at small
    dimensions with random weights, in the files and formats `WhisperSpeechTTS` loads (tests,
    benchmarks). The EnCodec checkpoint has the real 24 kHz architecture (about 90 MB)."""
    import torch
    install_shims()  # encodec and vocos import torchaudio
    from encodec import EncodecModel
    from vocos import Vocos

    root = Path(root)
    (root / "vocos").mkdir(parents=True, exist_ok=True)
    t2s_mod = import_whisperspeech("t2s_up_wds_mlang_enclm")
    s2a_mod = import_whisperspeech("s2a_delar_mup_wds_mlang")
    torch.manual_seed(seed)
    t2s = t2s_mod.TSARTransformer(depth=depth, n_head=n_head, head_width=head_width, ffn_mult=1,
                                  ttoks_len=ttoks_len, ttoks_codes=256, stoks_len=stoks_len,
                                  stoks_codes=513, tunables=t2s_mod.Tunables())
    t2s.save_model(root / "t2s.model")
    s2a = s2a_mod.SADelARTransformer(depth=depth, ctx_n=3 * stoks_len, stoks_len=stoks_len, stoks_codes=513,
                                     spk_width=192, n_head=n_head, head_width=head_width, ffn_mult=1,
                                     quantizers=4, tunables=s2a_mod.Tunables())
    s2a.save_model(root / "s2a.model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # encodec's weight_norm deprecation
        encodec = EncodecModel.encodec_model_24khz(pretrained=False)
    with torch.no_grad():  # kmeans-initialised codebooks start at zero: give them random codes
        for layer in encodec.quantizer.vq.layers:
            layer._codebook.embed.normal_()
            layer._codebook.embed_avg.copy_(layer._codebook.embed)
    torch.save(encodec.state_dict(), root / ENCODEC_CHECKPOINT)
    (root / "vocos/config.yaml").write_text(VOCOS_CONFIG.format(dim=vocos_dim, intermediate=2 * vocos_dim, layers=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _patched_encodec(lambda name: encodec.state_dict()):
            vocos = Vocos.from_hparams(str(root / "vocos/config.yaml"))
    torch.save({k: v for k, v in vocos.state_dict().items() if not k.startswith("feature_extractor.encodec.")},
               root / "vocos/pytorch_model.bin")
    (root / "speakers").mkdir(exist_ok=True)
    for name in speakers:
        torch.save(torch.randn(192), root / "speakers" / f"{name}.pt")
    return root
