"""Engine selection from `serving.engine` (torch | vllm)."""

from __future__ import annotations

from pathlib import Path

from ichigo.engines.base import Engine
from ichigo.errors import ConfigError


def make_engine(kind: str, llm_dir: str | Path, device: str = "cpu") -> Engine:
    if kind == "torch":
        from ichigo.engines.torch_engine import TorchEngine
        return TorchEngine(llm_dir, device=device)
    if kind == "vllm":
        if not device.startswith("cuda"):
            raise ConfigError("serving.engine vllm needs a GPU deployment (serving.deployments.llm."
                              "num_gpus > 0); use engine: torch on CPU")
        from ichigo.engines.vllm_engine import VLLMEngine
        return VLLMEngine(llm_dir)
    raise ConfigError(f"unknown serving.engine {kind!r}: use torch or vllm")
