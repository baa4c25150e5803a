"""The one training-dtype rule: bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere."""

from ichigo import precision


def test_bf16_follows_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16", "avx512_bf16"))
    assert precision.training_bf16("cpu", "bf16")
    assert "fp32 master weights" in precision.describe("cpu", "bf16")
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ())
    assert not precision.training_bf16("cpu", "bf16")
    assert "fp32 (bf16 asked" in precision.describe("cpu", "bf16")
    assert precision.training_bf16("cuda", "bf16")
    assert not precision.training_bf16("cuda", "fp32")


def test_this_machines_flags_are_read_from_cpuinfo():
    flags = open("/proc/cpuinfo").read().split()
    assert set(precision.cpu_bf16_flags()) == {f for f in precision.BF16_CPU_FLAGS if f in flags}
