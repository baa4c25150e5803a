"""The torch engine: the project's torchtune decoder with a KV cache (ichigo.model.stream_generate).

One generation at a time per model instance (the KV cache lives on the module); concurrency comes
from more replicas, which is how the serving graph autoscales on CPU.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator, Sequence

import torch

from ichigo.engines.base import Engine, GenParams
from ichigo.model import load_pretrained, stream_generate


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, llm_dir: str | Path, device: str = "cpu", dtype: torch.dtype | None = None):
        if device.startswith("cuda") and not torch.cuda.is_available():
            device = "cpu"  # a GPU deployment scheduled on a CPU node still answers
        dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
        self.loaded = load_pretrained(llm_dir, device=device, dtype=dtype)
        self.tokenizer = self.loaded.tokenizer
        self.max_seq_len = int(self.loaded.model.max_seq_len)
        self.device = device

    def stream(self, prompt: Sequence[int], params: GenParams,
               cancel: threading.Event | None = None) -> Iterator[int]:
        self.check_prompt(prompt, params)
        stops = self.tokenizer.stop_ids
        gen = stream_generate(self.loaded.model, list(prompt), params.max_new_tokens, stops,
                              temperature=params.temperature, top_k=params.top_k, seed=params.seed)
        try:
            for tok in gen:
                if tok in stops or (cancel is not None and cancel.is_set()):
                    return
                yield tok
        finally:
            gen.close()  # frees the KV cache and the model lock at once
