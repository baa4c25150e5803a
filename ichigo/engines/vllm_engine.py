"""The vLLM engine: the package's HF-format `llm/` dir on AsyncLLMEngine (continuous batching).

We hand vLLM token ids (`TokensPrompt`) built by the one chat template and decode ourselves, so
vLLM never tokenizes (skip_tokenizer_init) and sound tokens cannot be re-split differently.
vLLM needs a GPU; this module imports it lazily and fails with a clear ConfigError without it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Sequence

from ichigo.engines.base import Engine, GenParams
from ichigo.errors import ConfigError
from ichigo.model.checkpoint import load_args
from ichigo.model.tokenizer import IchigoTokenizer


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise ConfigError("serving.engine is 'vllm' but vllm is not installed in this image; "
                          "install vllm (GPU image) or set serving.engine: torch") from e
    return vllm


def sampling_params(vllm: Any, params: GenParams, stop_ids: set[int]) -> Any:
    """GenParams -> vllm.SamplingParams (cumulative outputs; we slice off what is new)."""
    return vllm.SamplingParams(
        max_tokens=params.max_new_tokens, temperature=params.temperature,
        top_k=params.top_k if params.top_k else -1, seed=params.seed,
        stop_token_ids=sorted(stop_ids), skip_special_tokens=False, detokenize=False)


def new_ids(output: Any, seen: int) -> list[int]:
    """Ids of `output.outputs[0]` after the first `seen` (RequestOutput is cumulative)."""
    return list(output.outputs[0].token_ids[seen:])


class VLLMEngine(Engine):
    name = "vllm"
    native_async = True

    def __init__(self, llm_dir: str | Path, gpu_memory_utilization: float = 0.85,
                 dtype: str = "bfloat16", engine: Any = None):
        self.tokenizer = IchigoTokenizer.load(llm_dir)
        self.max_seq_len = int(load_args(llm_dir).max_seq_len)
        self._vllm = _import_vllm() if engine is None else None
        if engine is None:
            args = self._vllm.AsyncEngineArgs(
                model=str(llm_dir), skip_tokenizer_init=True, dtype=dtype,
                max_model_len=self.max_seq_len, gpu_memory_utilization=gpu_memory_utilization,
                enable_prefix_caching=True)  # the system prompt + history prefix repeats per turn
            engine = self._vllm.AsyncLLMEngine.from_engine_args(args)
        self.engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None

    def _params(self, params: GenParams) -> Any:
        vllm = self._vllm or _import_vllm()
        return sampling_params(vllm, params, self.tokenizer.stop_ids)

    async def astream_batches(self, prompt: Sequence[int], params: GenParams,
                              transform: Any = None) -> AsyncIterator[list[int]]:
        """One batch per engine step (RequestOutput), stop ids dropped."""
        if transform is not None:
            raise NotImplementedError("vLLM streams on the event loop: transform the batches there")
        self.check_prompt(prompt, params)
        request_id = uuid.uuid4().hex
        seen, finished = 0, False
        stops = self.tokenizer.stop_ids
        try:
            async for out in self.engine.generate({"prompt_token_ids": list(prompt)},
                                                  self._params(params), request_id):
                ids = new_ids(out, seen)
                seen += len(ids)
                batch = [t for t in ids if t not in stops]
                finished = bool(out.finished)
                if batch:
                    yield batch
        finally:
            if not finished:  # client went away: free the sequence's KV blocks now
                await self.engine.abort(request_id)

    def stream(self, prompt: Sequence[int], params: GenParams,
               cancel: threading.Event | None = None) -> Iterator[int]:
        """Sync bridge for offline callers (pyfunc, eval): the engine's loop runs in a thread."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, daemon=True, name="vllm-loop").start()
        agen = self.astream(prompt, params)
        try:
            while not (cancel is not None and cancel.is_set()):
                try:
                    yield asyncio.run_coroutine_threadsafe(agen.__anext__(), self._loop).result()
                except StopAsyncIteration:
                    return
        finally:
            asyncio.run_coroutine_threadsafe(agen.aclose(), self._loop).result()

    def close(self) -> None:
        shutdown = getattr(self.engine, "shutdown", None)
        if callable(shutdown):
            shutdown()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
        super().close()
