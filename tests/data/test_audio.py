import io

import numpy as np
import pytest
import soundfile as sf

from ichigo.audio import AudioError, check_wave, load_16k, read_audio, to_16k, wav_bytes


def tone(sr, secs=1.0, f=440.0, amp=0.5):
    t = np.arange(int(sr * secs)) / sr
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def peak_hz(wave, sr):
    spec = np.abs(np.fft.rfft(wave))
    return np.fft.rfftfreq(len(wave), 1 / sr)[spec.argmax()]


@pytest.mark.parametrize("fmt,sub", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_soundfile_formats_decode_and_resample(fmt, sub):
    buf = io.BytesIO()
    sf.write(buf, tone(22050), 22050, format=fmt, subtype=sub)
    wave, sr = read_audio(buf.getvalue())
    assert sr == 22050
    w16 = to_16k(wave, sr)
    assert abs(len(w16) - 16000) <= 2  # 22050 -> 16000 with the exact ratio
    assert abs(peak_hz(w16, 16000) - 440) < 3


def _encode_av(container_fmt, codec, rate):
    import av
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_fmt) as out:
        st = out.add_stream(codec, rate=rate)
        st.layout = "mono"
        samples = tone(rate, 1.0)
        frame_size = st.codec_context.frame_size or 1024
        for i in range(0, len(samples), frame_size):
            chunk = samples[i:i + frame_size]
            if len(chunk) < frame_size:
                chunk = np.pad(chunk, (0, frame_size - len(chunk)))
            fr = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            fr.sample_rate = rate
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,codec,rate", [("webm", "libopus", 48000), ("mp4", "aac", 44100)])
def test_browser_formats_decode_via_pyav(fmt, codec, rate):
    data = _encode_av(fmt, codec, rate)
    [w] = load_16k(data)
    assert 0.9 < len(w) / 16000 < 1.2
    assert abs(peak_hz(w, 16000) - 440) < 5


def test_roundtrip_wav_bytes():
    w = tone(16000)
    back, sr = read_audio(wav_bytes(w))
    assert sr == 16000 and np.max(np.abs(back - w)) < 1e-3


def test_bad_inputs_raise_with_reason(tmp_path):
    with pytest.raises(AudioError) as e:
        read_audio(b"")
    assert e.value.reason == "empty"
    with pytest.raises(AudioError) as e:
        read_audio(b"RIFF\x00\x00garbage" * 10)
    assert e.value.reason == "corrupt" and "could not be decoded" in str(e.value)
    with pytest.raises(AudioError) as e:
        load_16k(wav_bytes(np.zeros(16000, np.float32)))
    assert e.value.reason == "silent"
    with pytest.raises(AudioError) as e:
        read_audio(tmp_path / "missing.wav")
    assert e.value.reason == "empty"


def test_too_long_rejects_or_chunks():
    w = tone(16000, 25.0)
    with pytest.raises(AudioError) as e:
        check_wave(w, max_seconds=10)
    assert e.value.reason == "too_long"
    chunks = check_wave(w, max_seconds=10, too_long="chunk")
    assert [len(c) for c in chunks] == [160000, 160000, 80000]


def test_wrong_rate_is_resampled_by_check_wave():
    [w] = check_wave(tone(8000, 2.0), 8000)
    assert len(w) == 32000 and abs(peak_hz(w, 16000) - 440) < 2
