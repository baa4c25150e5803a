"""LLM engines behind one interface: prompt token ids in, generated token ids out, streamed.

`torch` runs the project's own torchtune model with a KV cache (CPU or one GPU); `vllm` runs the
same HF-format directory on vLLM's continuous-batching engine (GPU only; import guarded).
"""

from ichigo.engines.base import Engine, GenParams
from ichigo.engines.detok import IncrementalDecoder
from ichigo.engines.factory import make_engine

__all__ = ["Engine", "GenParams", "IncrementalDecoder", "make_engine"]
