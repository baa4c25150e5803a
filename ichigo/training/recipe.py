"""The project's training recipe: one for all three Ichigo stages, FSDP2 on torchtune's blocks.

    torchrun --standalone --nproc_per_node 2 -m ichigo.training.recipe --config stage2.yaml

Loss: summed token cross-entropy over the whole global batch (all ranks, all accumulation
micro-batches) divided by the global number of target tokens, so gradient accumulation, the world
size and packing do not change the objective. A run resumes from the newest complete checkpoint
in output_dir, with the exact same data order, optimizer, scheduler and RNG state.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torchtune.training.lr_schedulers import get_cosine_schedule_with_warmup

from ichigo.chat_template import IGNORE_INDEX, PAD
from ichigo.errors import IchigoError, InputError
from ichigo.model.checkpoint import load_args, load_state_dict, save_pretrained
from ichigo.model.tokenizer import IchigoTokenizer
from ichigo.precision import describe as describe_precision
from ichigo.precision import training_bf16
from ichigo.training import remote
from ichigo.training.checkpointing import (
    checkpoint_dirs, clean_stale, latest_checkpoint, load_resume_state, save_checkpoint,
)
from ichigo.artifacts import STAGE_RESULT_FILE, TRAIN_METRICS_FILE, StageResult, write_stage_result
from ichigo.training.config import RecipeConfig, load_config
from ichigo.training.data import load_tokenized
from ichigo.training.distributed import (
    DistEnv, all_reduce_sum, as_float, build_sharded_model, gather_full_state_dict, init_distributed,
)
from ichigo.training.determinism import fingerprint
from ichigo.training.metrics import MetricsLogger, read_metrics
from ichigo.training.packing import Batch, collate, epoch_units, step_slices

MODEL_SUBDIR = "model"
# fault injection for preemption tests: rank 0 SIGKILLs itself right after this step
KILL_AT_STEP_ENV = "ICHIGO_FAULT_SIGKILL_AT_STEP"


def token_loss_sum(model, batch: Batch, device: torch.device, chunks: int) -> torch.Tensor:
    """Sum of next-token CE over the batch's target tokens (targets are pre-shifted)."""
    tokens = batch.tokens.to(device, non_blocking=True)
    targets = batch.targets.to(device, non_blocking=True)
    input_pos = batch.input_pos.to(device) if batch.input_pos is not None else None
    out = model(tokens, mask=batch.mask(device), input_pos=input_pos)
    if chunks > 0:  # list of [B, S/chunks, V] logits: upcast one chunk at a time
        return sum(F.cross_entropy(lg.float().flatten(0, 1), tg.flatten(), ignore_index=IGNORE_INDEX,
                                   reduction="sum")
                   for lg, tg in zip(out, targets.chunk(chunks, dim=1)))
    # the loss in fp32 whatever the compute dtype (bf16 log-softmax over ~50k-128k ids is lossy)
    return F.cross_entropy(out.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX,
                           reduction="sum")


def _base_meta(model_dir) -> dict:
    """What the parent checkpoint says about its base model, carried into every stage's output
    (the package records it; serving and the registry show it)."""
    from ichigo.model.checkpoint import META_FILE

    path = Path(model_dir) / META_FILE
    meta = json.loads(path.read_text()) if path.is_file() else {}
    return {k: meta[k] for k in ("base_model", "base_vocab_size", "chat_format") if k in meta}


def memory_gib(device: torch.device) -> dict[str, float]:
    if device.type == "cuda":
        return {"mem_max_alloc_gib": torch.cuda.max_memory_allocated(device) / 2**30}
    try:
        import psutil

        return {"mem_rss_gib": psutil.Process().memory_info().rss / 2**30}
    except ImportError:  # pragma: no cover
        return {}


def _print0(env: DistEnv, *a) -> None:
    if env.is_rank0:
        print(*a, flush=True)


class Trainer:
    def __init__(self, cfg: RecipeConfig, env: DistEnv):
        self.cfg, self.env = cfg, env
        self.out = remote.local_output(cfg.output_dir)
        self.remote_out = cfg.output_dir if remote.is_s3(cfg.output_dir) else None

    # -- setup ------------------------------------------------------------------------------
    def finished(self) -> bool:
        if self.remote_out:  # the final model stays in S3; result.json is written after it
            return (self.out / STAGE_RESULT_FILE).is_file()
        return (self.out / STAGE_RESULT_FILE).is_file() and (self.out / MODEL_SUBDIR / "config.json").is_file()

    def prepare_output(self) -> None:
        """Create/pull the output dir (remote: newest complete checkpoint) and drop torn temp dirs."""
        if self.env.local_rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.remote_out:
                remote.pull_output(self.remote_out, self.out)
            clean_stale(self.out)
        dist.barrier()

    def setup(self) -> None:
        cfg, env = self.cfg, self.env
        cfg.check_world(env.world_size)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        if env.local_rank == 0:  # one download per node, then everyone resolves the cached copy
            remote.local_input(cfg.model_dir, "model")
            remote.local_input(cfg.data_dir, "data")
        dist.barrier()
        model_dir = remote.local_input(cfg.model_dir, "model")
        data_dir = remote.local_input(cfg.data_dir, "data")
        self.tokenizer = IchigoTokenizer.load(model_dir)
        self.args = load_args(model_dir)
        if self.tokenizer.sound is None:
            raise InputError(f"{model_dir}: the tokenizer has no sound tokens; train from the "
                             "vocabulary-extended model (prepare_model's `extended` dir)")
        if cfg.data.max_seq_len > self.args.max_seq_len:
            raise InputError(f"data.max_seq_len {cfg.data.max_seq_len} exceeds the model's context "
                             f"{self.args.max_seq_len}")
        self.pad_id = self.tokenizer.special_id(PAD)
        self.meta = {"stage": cfg.stage, "parent_model": str(cfg.model_dir), "data": str(cfg.data_dir),
                     **_base_meta(model_dir)}

        self.resume_from = latest_checkpoint(self.out) if cfg.checkpoint.resume else None
        # the data: rank 0 tokenizes once into output_dir/cache, the rest read the cache
        if env.is_rank0:
            self.data = load_tokenized(data_dir, self.tokenizer, cfg.data.train_on_input,
                                       cfg.data.max_seq_len, self.out / "cache", build=True)
        dist.barrier()
        if not env.is_rank0:
            self.data = load_tokenized(data_dir, self.tokenizer, cfg.data.train_on_input,
                                       cfg.data.max_seq_len, self.out / "cache", build=False)
        self.units_per_step = cfg.per_device_batch * cfg.grad_accum * env.world_size
        self._epoch, self._units = -1, []
        if self._steps_in_epoch(0) == 0:
            raise InputError(
                f"{data_dir}: {len(self.data)} rows give {len(self._units)} "
                f"{'packs' if cfg.data.pack else 'rows'}, fewer than one global batch "
                f"({self.units_per_step}): add data or lower per_device_batch / grad_accum")
        if self.data.truncated:
            _print0(env, f"note: {self.data.truncated} rows longer than {cfg.data.max_seq_len} tokens were truncated")

        start_dir = self.resume_from or model_dir
        full = load_state_dict(start_dir) if env.is_rank0 else None
        bf16 = training_bf16(cfg.device, cfg.dtype)
        _print0(env, f"precision: {describe_precision(cfg.device, cfg.dtype)}")
        self.model = build_sharded_model(self.args, full, env, bf16, cfg.activation_checkpointing)
        del full
        if cfg.loss_chunks > 0:
            self.model.set_num_output_chunks(cfg.loss_chunks)
        fused = cfg.optimizer.fused if cfg.optimizer.fused != "auto" else env.device.type == "cuda"
        o = cfg.optimizer
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=o.lr, betas=o.betas, eps=o.eps,
                                           weight_decay=o.weight_decay, fused=True if fused else None)
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, cfg.lr_scheduler.warmup_steps, cfg.steps)
        self.step = 0
        self.tokens_seen = 0
        if self.resume_from is not None:
            st = load_resume_state(self.resume_from, self.model, self.optimizer, self.scheduler, env)
            self.step, self.tokens_seen = st["step"], st.get("tokens_seen", 0)
            _print0(env, f"resumed from {self.resume_from} at step {self.step}")
        self.metrics = MetricsLogger(self.out, env.is_rank0, cfg.metrics.mlflow_every,
                                     resume_step=self.step, prefix=f"{cfg.stage}/")

    def _steps_in_epoch(self, epoch: int) -> int:
        if epoch != self._epoch:
            self._units = epoch_units(self.data, self.cfg.seed, epoch, self.cfg.data.pack, self.cfg.data.max_seq_len)
            self._epoch = epoch
        return len(self._units) // self.units_per_step

    def _position(self, step: int) -> tuple[int, int]:
        """(epoch, step within epoch) of a global step; epochs may differ in length when packing."""
        epoch, rest = 0, step
        while rest >= (n := self._steps_in_epoch(epoch)):
            rest -= n
            epoch += 1
        return epoch, rest

    def _micro_batches(self, step: int) -> list[Batch]:
        epoch, k = self._position(step)
        cfg = self.cfg
        return [collate(self._units[s], self.data, cfg.data.pack, cfg.data.max_seq_len, self.pad_id)
                for s in step_slices(k, self.env.rank, self.env.world_size, cfg.per_device_batch, cfg.grad_accum)]

    # -- training ---------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        env, cfg = self.env, self.cfg
        t0 = time.perf_counter()
        batches = self._micro_batches(step)
        local_targets = sum(b.num_targets for b in batches)
        (global_targets,) = all_reduce_sum([local_targets], env.device)
        # FSDP averages gradients over ranks; scaling by world/global_targets makes the gradient
        # that of (summed CE over the global batch) / (global target tokens)
        scale = env.world_size / max(global_targets, 1.0)
        self.model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=env.device)
        for b in batches:
            ls = token_loss_sum(self.model, b, env.device, cfg.loss_chunks)
            (ls * scale).backward()
            loss_sum += ls.detach().double()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        loss_total, n_in = all_reduce_sum([float(loss_sum), sum(b.num_input_tokens for b in batches)], env.device)
        dt = time.perf_counter() - t0
        self.tokens_seen += int(n_in)
        return {"loss": loss_total / max(global_targets, 1.0), "lr": lr, "grad_norm": as_float(grad_norm),
                "tokens_per_s": n_in / dt, "step_s": dt, "tokens": int(n_in), **memory_gib(env.device)}

    def run(self) -> None:
        cfg, env = self.cfg, self.env
        t_start = time.time()
        every = cfg.checkpoint.every
        kill_at = int(os.environ.get(KILL_AT_STEP_ENV, "0") or 0) if env.is_rank0 else 0
        while self.step < cfg.steps:
            m = self.train_step(self.step)
            self.step += 1
            self.metrics.log(self.step, m)
            if env.is_rank0 and (self.step % cfg.metrics.stdout_every == 0 or self.step == cfg.steps):
                print(f"[{cfg.stage}] step {self.step}/{cfg.steps} loss {m['loss']:.4f} lr {m['lr']:.2e} "
                      f"grad_norm {m['grad_norm']:.3f} tokens/s {m['tokens_per_s']:.0f}", flush=True)
            if every and self.step % every == 0 and self.step < cfg.steps:
                self.metrics.flush()
                ck = save_checkpoint(self.out, self.step, self.model, self.optimizer, self.scheduler,
                                     {"tokens_seen": self.tokens_seen, "seed": cfg.seed}, self.tokenizer,
                                     self.args, self.meta, env, cfg.checkpoint.keep_last)
                self._push(f"checkpoints/{ck.name}", TRAIN_METRICS_FILE)
                if self.remote_out and env.local_rank == 0:
                    remote.prune_checkpoints(self.remote_out, {p.name for _, p in checkpoint_dirs(self.out)})
            if self.step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        self.metrics.close()
        self.finish(time.time() - t_start)

    def finish(self, seconds: float) -> None:
        env = self.env
        full = gather_full_state_dict(self.model)
        if env.is_rank0:
            tmp, final = self.out / f".tmp-{MODEL_SUBDIR}", self.out / MODEL_SUBDIR
            shutil.rmtree(tmp, ignore_errors=True)
            save_pretrained(full, self.tokenizer, self.args, tmp, meta={**self.meta, "steps": self.cfg.steps})
            try:  # ship the Llama-3 tiktoken form too (same ids)
                from ichigo.model.tiktoken_tokenizer import export_tiktoken

                export_tiktoken(self.tokenizer, tmp)
            except IchigoError as e:
                print(f"warning: no tiktoken export: {e}", file=sys.stderr)
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            rows = read_metrics(self.out)
            losses = [r["loss"] for r in rows]
            tail = rows[len(rows) // 10:] or rows  # skip warm-up steps for the throughput figure
            write_stage_result(self.out, StageResult(
                stage=self.cfg.stage, steps=self.cfg.steps, losses=losses,
                final_loss=losses[-1] if losses else None,
                tokens_per_s=float(np.mean([r["tokens_per_s"] for r in tail])) if tail else 0.0,
                train_seconds=seconds, world_size=env.world_size,
                determinism=fingerprint(env.world_size),  # what bitwise repeats need
                output_dir=str(self.cfg.output_dir).rstrip("/") + f"/{MODEL_SUBDIR}"))
        del full
        dist.barrier()
        self._push(MODEL_SUBDIR, TRAIN_METRICS_FILE, STAGE_RESULT_FILE)

    def _push(self, *rels: str) -> None:
        if self.remote_out and self.env.local_rank == 0:
            for rel in rels:
                if (self.out / rel).exists():
                    remote.push(self.out, self.remote_out, rel)


def run(cfg: RecipeConfig) -> None:
    env = init_distributed(cfg.device)
    try:
        trainer = Trainer(cfg, env)
        trainer.prepare_output()
        if trainer.finished():
            _print0(env, f"{trainer.out} already holds a finished run: nothing to do")
            return
        trainer.setup()
        trainer.run()
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ichigo.training.recipe", description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="stage YAML path, or env:VAR holding the YAML")
    a = ap.parse_args(argv)
    try:
        cfg = load_config(a.config)
        run(cfg)
    except IchigoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
