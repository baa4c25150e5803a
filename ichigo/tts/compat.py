"""Make whisperspeech 0.8.9 (and vocos/encodec) import on the pinned CPU torch.

whisperspeech imports `torchaudio` and `torio` at module level; torchaudio from the registry does
not load beside torch 2.13 CPU and `torio` is gone from torchaudio >= 2.9 (toolchain.md). The
inference paths we use need only a handful of torchaudio functions, which are provided here on
top of torch/scipy/soundfile and registered in `sys.modules` *only* when the real module cannot be
imported. `IPython` (imported by whisperspeech.train for notebook plots) gets an inert stand-in.
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from dataclasses import dataclass, field
from math import gcd
from typing import Any

_INSTALLED: list[str] = []


def _hz_to_mel(freq, mel_scale: str = "htk"):
    if mel_scale != "htk":
        raise NotImplementedError("only the htk mel scale is provided by the shim")
    if isinstance(freq, (int, float)):
        return 2595.0 * math.log10(1.0 + freq / 700.0)
    import torch
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(freq) / 700.0)


def _mel_to_hz(mels, mel_scale: str = "htk"):
    if mel_scale != "htk":
        raise NotImplementedError("only the htk mel scale is provided by the shim")
    import torch
    return 700.0 * (10.0 ** (torch.as_tensor(mels) / 2595.0) - 1.0)


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                    norm: str | None = None, mel_scale: str = "htk"):
    """Triangular filters, (n_freqs, n_mels), same construction as torchaudio's default."""
    import torch
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_pts = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    f_pts = _mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.clamp(torch.minimum(down, up), min=0.0)
    if norm == "slaney":
        fb *= (2.0 / (f_pts[2:n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb


def resample(waveform, orig_freq: int, new_freq: int, **_: Any):
    import torch
    from scipy.signal import resample_poly
    if orig_freq == new_freq:
        return waveform
    g = gcd(int(orig_freq), int(new_freq))
    out = resample_poly(waveform.detach().cpu().double().numpy(), new_freq // g, orig_freq // g, axis=-1)
    return torch.from_numpy(out).to(dtype=waveform.dtype, device=waveform.device)


def _build_torchaudio() -> types.ModuleType:
    import torch
    from torch import nn

    class Resample(nn.Module):
        def __init__(self, orig_freq: int = 16000, new_freq: int = 16000, **_: Any):
            super().__init__()
            self.orig_freq, self.new_freq = orig_freq, new_freq

        def forward(self, waveform):
            return resample(waveform, self.orig_freq, self.new_freq)

    class Spectrogram(nn.Module):
        def __init__(self, n_fft: int = 400, win_length: int | None = None, hop_length: int | None = None,
                     pad: int = 0, window_fn=torch.hann_window, power: float | None = 2.0,
                     normalized: bool = False, center: bool = True, pad_mode: str = "reflect",
                     onesided: bool = True, **_: Any):
            super().__init__()
            self.n_fft, self.win_length = n_fft, win_length or n_fft
            self.hop_length = hop_length or self.win_length // 2
            self.register_buffer("window", window_fn(self.win_length))
            self.power, self.center, self.pad_mode, self.normalized = power, center, pad_mode, normalized

        def forward(self, x):
            shape = x.shape
            spec = torch.stft(x.reshape(-1, shape[-1]), self.n_fft, self.hop_length, self.win_length,
                              self.window, center=self.center, pad_mode=self.pad_mode,
                              normalized=self.normalized, return_complex=True)
            spec = spec.reshape(*shape[:-1], *spec.shape[-2:])
            return spec if self.power is None else spec.abs().pow(self.power)

    class MelSpectrogram(nn.Module):
        def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: int | None = None,
                     hop_length: int | None = None, f_min: float = 0.0, f_max: float | None = None,
                     n_mels: int = 128, power: float = 2.0, center: bool = True, pad_mode: str = "reflect",
                     norm: str | None = None, mel_scale: str = "htk", **_: Any):
            super().__init__()
            self.spectrogram = Spectrogram(n_fft=n_fft, win_length=win_length, hop_length=hop_length,
                                           power=power, center=center, pad_mode=pad_mode)
            fb = melscale_fbanks(n_fft // 2 + 1, f_min, f_max or sample_rate / 2, n_mels, sample_rate,
                                 norm, mel_scale)
            self.register_buffer("fb", fb)

        def forward(self, x):
            spec = self.spectrogram(x)
            return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)

    def load(path, frame_offset: int = 0, num_frames: int = -1, **_: Any):
        import soundfile as sf
        data, sr = sf.read(str(path), dtype="float32", always_2d=True, start=frame_offset,
                           frames=num_frames)
        return torch.from_numpy(data.T.copy()), sr

    def save(path, src, sample_rate: int, **_: Any):
        import soundfile as sf
        sf.write(str(path), src.detach().cpu().numpy().T, sample_rate)

    @dataclass
    class AudioMetaData:
        sample_rate: int
        num_frames: int
        num_channels: int

    def info(path, **_: Any):
        import soundfile as sf
        i = sf.info(str(path))
        return AudioMetaData(i.samplerate, i.frames, i.channels)

    ta = types.ModuleType("torchaudio")
    ta.__doc__ = "ichigo shim: the subset of torchaudio whisperspeech/vocos/encodec need for inference"
    ta.__version__ = "0.0.0+ichigo-shim"
    ta.load, ta.save, ta.info = load, save, info
    transforms = types.ModuleType("torchaudio.transforms")
    transforms.Resample, transforms.Spectrogram, transforms.MelSpectrogram = Resample, Spectrogram, MelSpectrogram
    functional = types.ModuleType("torchaudio.functional")
    functional.resample, functional.melscale_fbanks = resample, melscale_fbanks
    inner = types.ModuleType("torchaudio.functional.functional")
    inner._hz_to_mel, inner._mel_to_hz, inner.melscale_fbanks = _hz_to_mel, _mel_to_hz, melscale_fbanks
    functional.functional = inner
    ta.transforms, ta.functional = transforms, functional
    for m in (ta, transforms, functional, inner):
        sys.modules[m.__name__] = m
    return ta


def _build_torio() -> None:
    @dataclass
    class SourceStream:
        media_type: str
        codec: str
        codec_long_name: str
        format: str | None
        bit_rate: int | None
        num_frames: int | None
        bits_per_sample: int | None
        metadata: dict = field(default_factory=dict)

    @dataclass
    class SourceAudioStream(SourceStream):
        sample_rate: float = 0.0
        num_channels: int = 0

    @dataclass
    class SourceVideoStream(SourceStream):
        width: int = 0
        height: int = 0
        frame_rate: float = 0.0

    def _parse_si(i):  # whisperspeech replaces this with its own patch; never used for decoding
        raise NotImplementedError("torio stream decoding is not available; ichigo decodes with PyAV")

    torio = types.ModuleType("torio")
    io_mod = types.ModuleType("torio.io")
    dec = types.ModuleType("torio.io._streaming_media_decoder")
    dec.SourceStream, dec.SourceAudioStream, dec.SourceVideoStream = SourceStream, SourceAudioStream, SourceVideoStream
    dec._parse_si = _parse_si
    io_mod._streaming_media_decoder = dec
    torio.io = io_mod
    for m in (torio, io_mod, dec):
        sys.modules[m.__name__] = m


def _build_ipython() -> None:
    ip = types.ModuleType("IPython")
    disp = types.ModuleType("IPython.display")

    def _no_notebook(*_: Any, **__: Any):
        raise RuntimeError("IPython is not installed: notebook display is unavailable")

    disp.HTML = disp.Audio = disp.display = _no_notebook
    ip.display = disp
    # what other libraries probe (matplotlib's pyplot): "not inside an IPython shell", as the real
    # module answers in a plain process; a recent version so nothing reaches for IPython.core
    ip.get_ipython = lambda: None
    ip.version_info = (8, 24, 0, "ichigo-stand-in")
    sys.modules["IPython"], sys.modules["IPython.display"] = ip, disp


def _importable(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        importlib.import_module(name)
        return True
    except Exception:  # ImportError, or OSError from a torchaudio built for another torch
        sys.modules.pop(name, None)
        return False


def install_shims() -> list[str]:
    """Register stand-ins for modules that cannot be imported; returns the ones installed."""
    if not _importable("torchaudio"):
        _build_torchaudio()
        _INSTALLED.append("torchaudio")
    if not _importable("torio.io._streaming_media_decoder"):
        _build_torio()
        _INSTALLED.append("torio")
    if not _importable("IPython"):
        _build_ipython()
        _INSTALLED.append("IPython")
    return list(_INSTALLED)


def import_whisperspeech(module: str) -> types.ModuleType:
    """`import_whisperspeech("vq_stoks")` with shims in place, or a clear error saying what to install."""
    install_shims()
    import torch

    # whisperspeech's training modules (pulled in by vq_stoks and the pipeline) call
    # torch.set_float32_matmul_precision("medium") at import: process-wide, it lets CPUs with bf16
    # units compute fp32 matmuls in bf16, which changed greedy tokens between batched and
    # one-at-a-time runs here; an import must not change the numerics of everything else
    precision = torch.get_float32_matmul_precision()
    try:
        return importlib.import_module(f"whisperspeech.{module}")
    except ImportError as e:
        from ichigo.errors import ConfigError
        raise ConfigError(
            f"whisperspeech.{module} does not import ({e}); install requirements-nodeps.txt with "
            "`pip install --no-deps -r requirements-nodeps.txt` (scripts/bootstrap.sh does)") from e
    finally:
        torch.set_float32_matmul_precision(precision)
