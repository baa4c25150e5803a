"""Per-GPU memory plan of a profile's training under FSDP2, from the model built on the meta device.

    python -m ichigo.training.memory_plan --profile h100

Model (what the recipe does): fp32 master weights, gradients and AdamW state sharded over all
ranks; on bf16 GPUs the FSDP mixed-precision policy all-gathers bf16 copies one decoder layer at a
time (plus the next one, prefetched) and the root (embeddings + output head) for the whole step.
Activations are counted per token and layer for a Llama block (SDPA/flash attention, so no s^2
term); with activation checkpointing only each layer's input is kept plus one layer recomputed.
Logits: the output projection writes B*S*V values in the compute dtype, and the loss upcasts them
(in `loss_chunks` pieces when set). A fixed allowance covers the CUDA context, NCCL buffers and
allocator fragmentation. These are estimates with stated assumptions, not measurements.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field

import torch

from ichigo.config import Profile, load_profile
from ichigo.errors import ConfigError
from ichigo.model.architecture import ModelArgs, build_model
from ichigo.sound_tokens import NEW_TOKENS

GIB = 2**30
LLAMA31_8B = ModelArgs(vocab_size=128_256, embed_dim=4096, num_layers=32, num_heads=32, num_kv_heads=8,
                       intermediate_dim=14_336, max_seq_len=131_072, rope_base=500_000, rope_scale_factor=8)
RUNTIME_OVERHEAD_GIB = 4.0  # CUDA context, NCCL buffers, allocator fragmentation
PREFETCHED_LAYERS = 2  # the unsharded layer + the next one being all-gathered


def profile_model_args(profile: Profile) -> ModelArgs:
    """The model a profile trains, with the 515 added tokens."""
    bm = profile.base_model
    if bm.kind == "gguf":  # metadata only: the reader memory-maps, nothing is dequantized
        from gguf import GGUFReader

        from ichigo.model.gguf_import import read_gguf_args, resolve_gguf

        path = resolve_gguf(bm.uri)
        base = read_gguf_args(GGUFReader(str(path)), str(path))
    elif bm.kind == "hf_checkpoint":
        from pathlib import Path

        from ichigo.model.checkpoint import CONFIG_FILE, load_args

        local = Path(bm.uri)
        # the h100 profile's base (its config.json lives in S3) unless the config is at hand
        base = load_args(local) if (local / CONFIG_FILE).is_file() else LLAMA31_8B
    else:
        from ichigo.chat_template import SPECIAL_TOKENS

        base = ModelArgs(vocab_size=bm.bpe_vocab_size + len(SPECIAL_TOKENS), embed_dim=bm.embed_dim,
                         num_layers=bm.num_layers, num_heads=bm.num_heads, num_kv_heads=bm.num_kv_heads,
                         intermediate_dim=bm.intermediate_dim, max_seq_len=bm.max_seq_len)
    return base.with_vocab(base.vocab_size + len(NEW_TOKENS))


def count_parameters(args: ModelArgs) -> dict[str, int]:
    """Built on the meta device: exact counts, no memory."""
    with torch.device("meta"):
        model = build_model(args)
    total = sum(p.numel() for p in model.parameters())
    layer = sum(p.numel() for p in model.layers[0].parameters())
    root = total - layer * args.num_layers
    return {"total": total, "per_layer": layer, "root": root,
            "embedding": model.tok_embeddings.weight.numel()}


@dataclass
class StageMemory:
    stage: str
    per_device_batch: int
    max_seq_len: int
    params_gib: float  # sharded fp32 master weights
    grads_gib: float  # sharded fp32 gradients
    optimizer_gib: float  # sharded AdamW exp_avg + exp_avg_sq
    unsharded_gib: float  # all-gathered compute copies (root + prefetched layers) and their grads
    activations_gib: float
    activations_no_ac_gib: float
    logits_gib: float
    overhead_gib: float
    activation_checkpointing: bool

    @property
    def peak_gib(self) -> float:
        act = self.activations_gib if self.activation_checkpointing else self.activations_no_ac_gib
        return (self.params_gib + self.grads_gib + self.optimizer_gib + self.unsharded_gib + act
                + self.logits_gib + self.overhead_gib)


@dataclass
class MemoryPlan:
    profile: str
    params: int
    new_token_params: int
    world_size: int
    compute_dtype: str
    stages: list[StageMemory] = field(default_factory=list)

    @property
    def peak_gib(self) -> float:
        return max(s.peak_gib for s in self.stages)

    def table(self) -> str:
        lines = [f"profile {self.profile}: {self.params / 1e9:.3f}B parameters "
                 f"({self.new_token_params / 1e6:.1f}M in the {len(NEW_TOKENS)} new token rows), "
                 f"FSDP2 over {self.world_size} ranks, compute {self.compute_dtype}",
                 f"{'stage':8}{'batch x len':>13}{'params':>8}{'grads':>8}{'adamw':>8}{'gather':>8}"
                 f"{'act(AC)':>9}{'act(noAC)':>10}{'logits':>8}{'other':>7}{'peak':>8}  (GiB per GPU)"]
        for s in self.stages:
            ac = "" if s.activation_checkpointing else " (no AC)"
            lines.append(f"{s.stage:8}{f'{s.per_device_batch} x {s.max_seq_len}':>13}{s.params_gib:8.2f}"
                         f"{s.grads_gib:8.2f}{s.optimizer_gib:8.2f}{s.unsharded_gib:8.2f}"
                         f"{s.activations_gib:9.2f}{s.activations_no_ac_gib:10.2f}{s.logits_gib:8.2f}"
                         f"{s.overhead_gib:7.2f}{s.peak_gib:8.2f}{ac}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["peak_gib"] = self.peak_gib
        for s, sd in zip(self.stages, d["stages"]):
            sd["peak_gib"] = s.peak_gib
        return d


def _activation_elems_per_token_layer(a: ModelArgs) -> int:
    """Saved tensors of one Llama block per token: norm inputs/outputs, q/k/v, attention output,
    the three SwiGLU intermediates and w2's input."""
    d, kv, f = a.embed_dim, a.num_kv_heads * a.head_dim, a.intermediate_dim
    attn = d + d + d + 2 * kv + d  # norm in, norm out (qkv input), q, k+v, attn out (o-proj input)
    mlp = d + d + 4 * f  # norm in, norm out, w1 out, w3 out, silu(w1), product (w2 input)
    return attn + mlp


def plan_memory(profile: Profile, args: ModelArgs | None = None) -> MemoryPlan:
    args = args or profile_model_args(profile)
    tr = profile.training
    n = tr.world_size
    counts = count_parameters(args)
    p = counts["total"]
    new_rows = len(NEW_TOKENS) * args.embed_dim * (1 if args.tie_embeddings else 2)  # + untied head
    bf16 = tr.dtype == "bf16"
    cbytes = 2 if bf16 else 4
    stages = []
    for name, st in sorted(tr.stages.items()):
        tokens = st.per_device_batch * st.max_seq_len
        per_layer = _activation_elems_per_token_layer(args) * tokens * cbytes
        with_ac = args.num_layers * tokens * args.embed_dim * cbytes + per_layer
        gathered = (counts["root"] + PREFETCHED_LAYERS * counts["per_layer"]) * cbytes if n > 1 else 0
        # unsharded grads of the layer in backward before reduce-scatter
        gathered += counts["per_layer"] * cbytes if n > 1 else 0
        chunks = tr.loss_chunks or 1  # the recipe chunks the output projection + CE this many ways
        logits = tokens * args.vocab_size * (cbytes + 2 * 4 / chunks)  # logits + fp32 chunk + its grad
        stages.append(StageMemory(
            stage=name, per_device_batch=st.per_device_batch, max_seq_len=st.max_seq_len,
            params_gib=4 * p / n / GIB, grads_gib=4 * p / n / GIB, optimizer_gib=8 * p / n / GIB,
            unsharded_gib=gathered / GIB, activations_gib=with_ac / GIB,
            activations_no_ac_gib=args.num_layers * per_layer / GIB, logits_gib=logits / GIB,
            overhead_gib=RUNTIME_OVERHEAD_GIB if tr.device == "cuda" else 0.0,
            activation_checkpointing=tr.activation_checkpointing))
    return MemoryPlan(profile.name, p, new_rows, n, "bf16" if bf16 else "fp32", stages)


def check_fits(profile: Profile, gpu_memory_gib: float = 80.0, args: ModelArgs | None = None) -> MemoryPlan:
    """Raise ConfigError (with the numbers) when any stage's estimated peak exceeds the GPU."""
    plan = plan_memory(profile, args)
    over = [s for s in plan.stages if s.peak_gib > gpu_memory_gib]
    if over:
        detail = "; ".join(
            f"{s.stage}: peak {s.peak_gib:.1f} GiB (params {s.params_gib:.1f} + grads {s.grads_gib:.1f} + "
            f"AdamW {s.optimizer_gib:.1f} + gathered {s.unsharded_gib:.1f} + activations "
            f"{s.activations_gib if s.activation_checkpointing else s.activations_no_ac_gib:.1f} + logits "
            f"{s.logits_gib:.1f} + other {s.overhead_gib:.1f})" for s in over)
        hint = ("enable training.activation_checkpointing" if not profile.training.activation_checkpointing
                else "lower per_device_batch (raise grad_accum) or max_seq_len, or add GPUs")
        raise ConfigError(f"profile {profile.name!r} does not fit {gpu_memory_gib:g} GiB per GPU: {detail}. "
                          f"Fix: {hint}")
    return plan


def on_gpus(profile: Profile, gpus: int) -> Profile:
    """The profile's training on `gpus` CUDA devices of one node in bf16, each stage's global batch
    kept (per-device batch first, then gradient accumulation)."""
    stages = {}
    for name, st in profile.training.stages.items():
        per = max(1, st.global_batch // gpus)
        pdb = min(st.per_device_batch, per)
        while per % pdb:
            pdb -= 1
        stages[name] = {**st.model_dump(), "per_device_batch": pdb, "grad_accum": per // pdb,
                        "global_batch": pdb * (per // pdb) * gpus}
    return load_profile(profile.name, overrides={"training": {
        "device": "cuda", "dtype": "bf16", "nodes": 1, "procs_per_node": gpus, "stages": stages}})


# Time estimate: 6 x params FLOPs per trained token (forward + backward), at an assumed sustained
# bf16 rate. 400 TFLOP/s x 40% utilisation is a typical H100 figure for small models; it is an
# assumption, printed as such, not a measurement.
ASSUMED_GPU_TFLOPS = 400.0
ASSUMED_MFU = 0.4
ASSUMED_MIN_STEP_S = 0.15  # small models are launch/latency-bound: a floor per optimizer step


def estimated_minutes(profile: Profile, params: int, gpus: int) -> float:
    stages = profile.training.stages.values()
    tokens = sum(st.steps * st.global_batch * st.max_seq_len for st in stages)
    compute_s = 6 * params * tokens / (gpus * ASSUMED_GPU_TFLOPS * 1e12 * ASSUMED_MFU)
    return max(compute_s, sum(st.steps for st in stages) * ASSUMED_MIN_STEP_S) / 60


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ichigo.training.memory_plan")
    ap.add_argument("--profile", default="h100")
    ap.add_argument("--gpu-memory-gib", type=float, default=80.0)
    ap.add_argument("--gpus", type=int, default=None,
                    help="plan the profile's training on this many GPUs of one node (bf16)")
    a = ap.parse_args(argv)
    profile = load_profile(a.profile)
    if a.gpus:
        profile = on_gpus(profile, a.gpus)
    plan = plan_memory(profile)
    print(plan.table())
    if a.gpus:
        mins = estimated_minutes(profile, plan.params, plan.world_size)
        print(f"time: ~{mins:.1f} min of training on {plan.world_size} GPU(s) (assumed: packed full "
              f"sequences, {ASSUMED_GPU_TFLOPS:g} TFLOP/s x {ASSUMED_MFU:.0%} utilisation, at least "
              f"{ASSUMED_MIN_STEP_S} s per step; data, eval and start-up not included)")
    try:
        check_fits(profile, a.gpu_memory_gib)
        print(f"fits: peak {plan.peak_gib:.1f} GiB <= {a.gpu_memory_gib:g} GiB per GPU")
        return 0
    except ConfigError as e:
        print(f"DOES NOT FIT: {e}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
