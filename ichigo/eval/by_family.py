"""Spoken-QA exact match and WER per voice family.

A mean over all held-out voices hides a family the model does not understand (one accent at 0%
beside three at 100% reads as 75%). Per-family metrics make that visible and gateable:
`speech_qa_exact/<family>`, `wer/<family>`, `n_speech_qa/<family>` ('/' rather than '@': MLflow
metric names allow only letters, digits, `_-. /:`; MLflow's UI groups them by prefix), plus the worst family
(`speech_qa_exact_min_family`, `wer_max_family`) and the mean over families.

Input: the eval items (their `family`; items from files that predate the field get one derived
from their voice) and the per-item prediction records of `speech_qa` / `transcription_eval`
(`id`, `exact`; `reference`, `prediction`).
"""

from __future__ import annotations

from collections import defaultdict

from ichigo.errors import InputError
from ichigo.tts.families import derived_family


def item_families(items: list) -> dict[str, str]:
    """id -> family ("" when neither the item nor its voice names one, e.g. recorded audio).
    An id listed twice (a benchmark made from the held-out set) keeps the family it has."""
    out: dict[str, str] = {}
    for it in items:
        fam = getattr(it, "family", "") or derived_family(it.voice or "")
        if fam or it.id not in out:
            out[it.id] = fam
    return out


def family_metrics(items: list, qa_predictions: list[dict], asr_predictions: list[dict]) -> dict[str, float]:
    """Predictions of items without a family (recorded benchmark audio) are left out."""
    from ichigo.eval.asr import wer_cer  # here, so family_table (run summaries) stays torch-free

    fam = item_families(items)
    unknown = [p["id"] for p in [*qa_predictions, *asr_predictions] if p["id"] not in fam]
    if unknown:
        raise InputError(f"predictions for ids that are not eval items: {unknown[:5]}")
    exact: dict[str, list[bool]] = defaultdict(list)
    for p in qa_predictions:
        if fam[p["id"]]:
            exact[fam[p["id"]]].append(bool(p["exact"]))
    asr: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for p in asr_predictions:
        if not fam[p["id"]]:
            continue
        refs, hyps = asr[fam[p["id"]]]
        refs.append(p["reference"])
        hyps.append(p["prediction"])
    out: dict[str, float] = {}
    for f, xs in sorted(exact.items()):
        out[f"speech_qa_exact/{f}"] = sum(xs) / len(xs)
        out[f"n_speech_qa/{f}"] = float(len(xs))
    for f, (refs, hyps) in sorted(asr.items()):
        out[f"wer/{f}"] = wer_cer(refs, hyps)[0]
        out[f"n_asr/{f}"] = float(len(refs))
    if exact:
        per = [v for k, v in out.items() if k.startswith("speech_qa_exact/")]
        out["speech_qa_exact_min_family"] = min(per)
        out["speech_qa_exact_mean_family"] = sum(per) / len(per)
    if asr:
        out["wer_max_family"] = max(v for k, v in out.items() if k.startswith("wer/"))
    return out


def family_table(metrics: dict[str, float]) -> str:
    """Markdown table of the per-family metrics in a metrics.json (for run summaries and reports);
    "" when there are none. Exact match carries its 95% Wilson interval: with 20-70 items per
    family one item is several points, and the interval says how far a difference means anything."""
    from ichigo.eval.stats import wilson

    fams = sorted({k.split("/", 1)[1] for k in metrics if k.startswith(("speech_qa_exact/", "wer/"))})
    if not fams:
        return ""

    def count(key: str) -> str:
        n = metrics.get(key)
        return "-" if n is None else str(int(n))

    def exact(f: str) -> str:
        v, n = metrics.get(f"speech_qa_exact/{f}"), metrics.get(f"n_speech_qa/{f}")
        if v is None:
            return "-"
        if not n:
            return f"{100 * v:.1f}%"
        lo, hi = wilson(round(v * n), int(n))
        return f"{100 * v:.1f}% [{100 * lo:.0f}, {100 * hi:.0f}]"

    lines = ["| voice family | QA items | spoken-QA exact [95%] | ASR items | WER |",
             "| --- | --- | --- | --- | --- |"]
    for f in fams:
        wer = metrics.get(f"wer/{f}")
        lines.append(f"| {f} | {count(f'n_speech_qa/{f}')} | {exact(f)} | {count(f'n_asr/{f}')} "
                     f"| {'-' if wer is None else f'{wer:.3f}'} |")
    return "\n".join(lines)
