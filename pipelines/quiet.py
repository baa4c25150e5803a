"""Quiet local runs: one console line per pipeline step, full logs in files.

kfp.local streams every task's output (the executor's input JSON, warnings, each progress-bar
refresh as a line) to the console. Here each task's output goes to `<workdir>/logs/<step>.log`
instead, and the console gets, per step: its name, whether it ran or came from the cache, its
time and its key numbers (read from the task's executor output, i.e. the artifacts' metadata).
While a step runs on a terminal, its latest progress-bar refresh is shown on one status line, so
there is only ever one bar. Everything else the orchestrating process prints (kfp's own logging,
warnings) goes to `<workdir>/logs/pipeline.log`.

`ichigo run --verbose` keeps kfp's stream as it is (pipelines.run_local does not install this).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Iterator, TextIO

# per function: the metadata keys worth a place on the step line (in this order)
KEY_NUMBERS: dict[str, tuple[str, ...]] = {
    "prepare_model": ("parameters", "vocab_size", "final_loss"),
    "synthesize_speech": ("num_utterances", "audio_hours"),
    "fit_speech_tokenizer": ("backend",),
    "tokenize_speech": ("num_tokenized", "total_tokens"),
    "train_stage": ("final_loss", "steps", "train_seconds"),
    "evaluate": ("speech_qa_score", "wer", "inaudible_refusal_random", "text_retention_acc"),
    "gate": ("passed",),
    "register": ("model", "version", "alias"),
    "reject": ("registered",),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _arg(cmd: list[str], flag: str) -> str | None:
    for i, part in enumerate(cmd[:-1]):
        if part == flag:
            return cmd[i + 1]
    return None


def _step_of(cmd: list[str]) -> tuple[str, str, dict]:
    """(function, label, executor_input) of a kfp lightweight-component command line."""
    function = _arg(cmd, "--function_to_execute") or "task"
    try:
        executor_input = json.loads(_arg(cmd, "--executor_input") or "{}")
    except json.JSONDecodeError:
        executor_input = {}
    params = (executor_input.get("inputs") or {}).get("parameterValues") or {}
    label = function + (f" {params['stage']}" if isinstance(params.get("stage"), str) else "")
    if isinstance(params.get("shard"), (int, float)):  # a fan-out share: its own line and log file
        label += f" share {int(params['shard'])}"
    return function, label, executor_input


def _outputs(executor_input: dict) -> tuple[dict, dict]:
    """(artifact metadata merged, parameter values) from the task's executor output file."""
    path = (executor_input.get("outputs") or {}).get("outputFile")
    try:
        out = json.loads(Path(path).read_text()) if path else {}
    except (OSError, json.JSONDecodeError):
        return {}, {}
    meta: dict = {}
    for group in (out.get("artifacts") or {}).values():
        for art in group.get("artifacts") or []:
            meta.update(art.get("metadata") or {})
    return meta, out.get("parameterValues") or {}


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):  # KFP metadata turns every number into a float
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    return str(v)


def step_line(function: str, label: str, seconds: float, meta: dict, params: dict, ok: bool) -> str:
    cached = meta.get("cached")
    how = "FAILED" if not ok else ("cached" if cached is True else "ran")
    values = {**meta, **params}
    out = params.get("Output")
    if isinstance(out, bool):
        values["passed"] = out
    elif isinstance(out, str) and out.startswith("{"):  # register / reject return their summary
        with contextlib.suppress(json.JSONDecodeError):
            values.update({k: v for k, v in json.loads(out).items() if not isinstance(v, (dict, list))})
    keys = KEY_NUMBERS.get(function, ())
    nums = [f"{k}={_fmt(values[k])}" for k in keys if k in values and values[k] is not None]
    return f"  {label:<22} {how:<6} {seconds:7.1f} s  {'  '.join(nums)}".rstrip()


class StepConsole:
    """Runs kfp.local's task subprocesses with their output in per-step log files."""

    def __init__(self, log_dir: str | Path, console: TextIO | None = None):
        self.log_dir = Path(log_dir)
        self.console = console or sys.__stdout__
        self.tty = bool(getattr(self.console, "isatty", lambda: False)())
        self.lines: list[str] = []  # the step lines printed (what a caller may test)

    def _say(self, line: str) -> None:
        if self.tty:
            line = "\r\x1b[K" + line
        self.console.write(line + "\n")
        self.console.flush()
        self.lines.append(line)

    def _status(self, label: str, text: str) -> None:
        if not self.tty:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.console.write("\r\x1b[K" + f"  {label}: {text.strip()}"[:width])
        self.console.flush()

    def log_path(self, label: str) -> Path:
        return self.log_dir / (_UNSAFE.sub("-", label).strip("-") + ".log")

    def run_subprocess(self, full_command: list[str], env_vars: dict[str, str] | None = None) -> int:
        """Drop-in for kfp.local's `run_local_subprocess` (same arguments, same return code)."""
        function, label, executor_input = _step_of(full_command)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(label)
        env = {**os.environ, **(env_vars or {})}
        tail: deque[str] = deque(maxlen=25)
        t0 = time.time()
        with open(log_path, "ab") as log, subprocess.Popen(
                full_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) as proc:
            log.write(f"$ {function} ({time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode())
            buf = b""
            while True:
                chunk = os.read(proc.stdout.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    break
                log.write(chunk)
                buf += chunk
                # a segment ended by \r is a progress-bar refresh: the status line; \n ends a log line
                parts = re.split(rb"(\r\n|\r|\n)", buf)
                buf = parts.pop()
                for seg, end in zip(parts[::2], parts[1::2]):
                    text = seg.decode(errors="replace")
                    if end == b"\r":
                        if text.strip():
                            self._status(label, text)
                    elif text.strip():
                        tail.append(text)
            code = proc.wait()
        meta, params = _outputs(executor_input)
        self._say(step_line(function, label, time.time() - t0, meta, params, code == 0))
        if code != 0:
            for line in tail:
                self._say(f"    | {line}")
            self._say(f"    full log: {log_path}")
        return code

    @contextlib.contextmanager
    def installed(self) -> Iterator["StepConsole"]:
        """Route kfp.local's task subprocesses through this console, and the orchestrating
        process's own output (kfp's logging, warnings) to logs/pipeline.log."""
        from kfp.local import subprocess_task_handler

        self.log_dir.mkdir(parents=True, exist_ok=True)
        original = subprocess_task_handler.run_local_subprocess
        subprocess_task_handler.run_local_subprocess = self.run_subprocess
        with open(self.log_dir / "pipeline.log", "a") as plog:
            try:
                with contextlib.redirect_stdout(plog), contextlib.redirect_stderr(plog):
                    yield self
            finally:
                subprocess_task_handler.run_local_subprocess = original
                _unbind_log_handlers(plog)


def _unbind_log_handlers(stream) -> None:
    """Logging handlers created during the run (kfp's, torchao's) captured the redirected stream;
    point them back at stderr before it closes, or a later log call fails on a closed file."""
    import logging

    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is stream:
                h.setStream(sys.__stderr__)
