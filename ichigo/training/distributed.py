"""Process group, FSDP2 sharding and full-state-dict load/gather for the recipe.

The model is built on the meta device, wrapped (activation checkpointing, then `fully_shard` per
decoder layer and at the root), materialised shard by shard, and filled from a full HF state dict
that only rank 0 reads (broadcast to the others): an 8B model is never fully materialised on
every rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions, get_model_state_dict, set_model_state_dict,
)
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor
from torchtune.modules import TransformerDecoder, TransformerSelfAttentionLayer
from torchtune.training import set_activation_checkpointing

from ichigo.model.architecture import ModelArgs, build_model
from ichigo.ports import free_port


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_rank0(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistEnv:
    """gloo on CPU, NCCL (+ gloo for CPU tensors) on GPU. Without torchrun: a 1-process group."""
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(free_port()))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda was configured but no GPU is visible")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "cuda:nccl,cpu:gloo"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        # generous timeout: rank 0 tokenizes the dataset while the others wait at a barrier
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=60))
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, device)


def build_sharded_model(args: ModelArgs, full_state_dict: dict | None, env: DistEnv,
                        bf16: bool, activation_checkpointing: bool) -> TransformerDecoder:
    """`full_state_dict`: torchtune-keyed weights on rank 0 (ignored elsewhere)."""
    with torch.device("meta"):
        model = build_model(args)
    if activation_checkpointing:
        set_activation_checkpointing(model, auto_wrap_policy={TransformerSelfAttentionLayer})
    # fp32 sharded master weights; bf16 compute and fp32 gradient reduction on GPU
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
    kw = {"mp_policy": mp} if mp is not None else {}
    for layer in model.layers:
        fully_shard(layer, **kw)
    fully_shard(model, **kw)
    model.to_empty(device=env.device)
    with torch.no_grad():
        for m in model.modules():  # non-persistent RoPE caches are not in any state dict
            if hasattr(m, "rope_init"):
                m.rope_init()
    set_model_state_dict(model, full_state_dict if env.is_rank0 else {},
                         options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    return model


def gather_full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Collective: every rank calls it; rank 0 gets the full fp32 state dict on CPU, others {}."""
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def as_float(x) -> float:
    if isinstance(x, DTensor):
        x = x.full_tensor()
    return float(x)


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
