"""Quiet runs: a task's output goes to its log file, the console gets one line per step with its
key numbers, and a failure shows the log's tail."""

from __future__ import annotations

import io
import json
import sys

from pipelines.quiet import StepConsole, step_line

CHILD = r"""
import json, sys
out = sys.argv[1]
print("executor input: {...huge json...}")
for i in range(1, 4):
    sys.stderr.write(f"\rstage1:  {i}/3 [loss=2.{i}]"); sys.stderr.flush()
sys.stderr.write("\n")
print("a warning nobody needs on the console")
json.dump({"artifacts": {"trained": {"artifacts": [{"metadata": {"final_loss": 1.2345678, "steps": 3,
           "cached": False, "stage": "stage1"}}]}}}, open(out, "w"))
sys.exit(int(sys.argv[2]))
"""


def _command(tmp_path, code: int) -> list[str]:
    out = tmp_path / "executor_output.json"
    executor_input = {"inputs": {"parameterValues": {"stage": "stage1", "settings": "{}"}},
                      "outputs": {"outputFile": str(out)}}
    return [sys.executable, "-c", CHILD, str(out), str(code), "--executor_input", json.dumps(executor_input),
            "--function_to_execute", "train_stage"]


def test_a_step_is_one_line_and_its_output_goes_to_the_log(tmp_path):
    console = io.StringIO()
    sc = StepConsole(tmp_path / "logs", console)
    assert sc.run_subprocess(_command(tmp_path, 0)) == 0
    lines = console.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].split()[:3] == ["train_stage", "stage1", "ran"]
    assert "final_loss=1.235" in lines[0] and "steps=3" in lines[0]
    log = (tmp_path / "logs" / "train_stage-stage1.log").read_text()
    assert "huge json" in log and "a warning nobody needs" in log and "3/3" in log


def test_a_failed_step_shows_why(tmp_path):
    console = io.StringIO()
    assert StepConsole(tmp_path / "logs", console).run_subprocess(_command(tmp_path, 3)) == 3
    text = console.getvalue()
    assert "FAILED" in text and "a warning nobody needs" in text and "train_stage-stage1.log" in text


def test_step_line_reads_gate_and_register_outputs():
    assert "passed=true" in step_line("gate", "gate", 1.0, {}, {"Output": True}, True)
    reg = step_line("register", "register", 2.0, {}, {"Output": json.dumps(
        {"registered": True, "model": "m", "version": "3", "alias": "challenger", "checks": []})}, True)
    assert "version=3" in reg and "alias=challenger" in reg
    line = step_line("prepare_model", "prepare_model", 0.1, {"cached": True, "vocab_size": 1033.0}, {}, True)
    assert " cached " in line and "vocab_size=1033" in line


def test_fan_out_shares_get_their_own_line_and_log():
    import json

    from pipelines.quiet import _step_of

    def cmd(params):
        return ["python", "-m", "kfp.dsl.executor_main", "--function_to_execute", "synthesize_speech",
                "--executor_input", json.dumps({"inputs": {"parameterValues": params}})]

    assert _step_of(cmd({"shard": 1.0}))[1] == "synthesize_speech share 1"  # kfp.local: ints as floats
    assert _step_of(cmd({"stage": "stage2"}))[1] == "synthesize_speech stage2"
