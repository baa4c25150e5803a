"""Evaluation: the paper's metrics (text retention, speech QA, ASR, inaudible robustness,
first-token latency) on declared benchmarks (`ichigo.eval.benchmarks`: MMLU, AudioBench-style
speech QA, ASR test sets, GPQA/GSM8K shapes), the LLM judge, the held-out check, the promotion
gate and the report.

Entry points: `evaluate_model` (ichigo.eval.run), `decide` (ichigo.eval.gate) and
`write_report` (ichigo.eval.report); each metric is also a library function of its own module.
"""

from ichigo.eval.gate import Check, GateDecision, decide

__all__ = ["Check", "GateDecision", "decide", "evaluate_model", "EvalResult", "write_report"]


def __getattr__(name: str):
    # lazy: the gate is imported by light-weight callers (KFP condition steps) without torch
    if name in ("evaluate_model", "EvalResult"):
        from ichigo.eval import run
        return getattr(run, name)
    if name == "write_report":
        from ichigo.eval.report import write_report
        return write_report
    raise AttributeError(name)
