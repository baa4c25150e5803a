import base64
import re

import pytest

from ichigo.config import EvalConfig
from ichigo.eval.gate import decide
from ichigo.eval.report import write_report

CAND = {"text_retention_acc": 0.58, "text_retention_base_acc": 0.62, "text_retention_drop": 0.065,
        "speech_qa_score": 2.4, "speech_qa_exact": 0.41, "wer": 0.93, "cer": 0.5,
        "inaudible_refusal_random": 0.99, "inaudible_refusal_noise": 0.7, "false_refusal": 0.08,
        "first_token_p50_ms": 40.0, "first_token_p95_ms": 61.0, "peak_memory_mb": 900.0}
CHAMP = {**CAND, "speech_qa_score": 2.2, "wer": 0.7, "inaudible_refusal_noise": 0.9}
BASE = {"text_retention_acc": 0.62}
UNTRAINED = {"text_retention_acc": 0.61, "speech_qa_score": 0.0, "wer": 1.96, "inaudible_refusal_random": 0.0,
             "inaudible_refusal_noise": 0.0, "false_refusal": 0.0}
LOSSES = {"stage1": [5.0, 4.1, 3.5, 3.0, 2.8], "stage2": [2.5, 1.9, 1.4, 1.2], "stage3": [1.3, 1.1, 1.0]}


@pytest.mark.slow  # three matplotlib figures: seconds on a loaded 2-core box
def test_report_files_and_contents(tmp_path):
    decision = decide(CAND, EvalConfig(), BASE, CHAMP)
    assert set(decision.failed) == {"wer", "inaudible_refusal_noise", "vs_champion:wer",
                                    "vs_champion:inaudible_refusal_noise"}
    paths = write_report(tmp_path, CAND, decision, LOSSES, BASE, CHAMP, UNTRAINED)
    assert set(paths.images) == {"losses", "checks", "comparison"}
    for p in paths.images.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000

    page = paths.html.read_text()
    # self-contained: every image is inline, nothing is fetched
    srcs = re.findall(r"src='([^']*)'", page)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert "http://" not in page and "https://" not in page
    assert "REJECTED" in page and page.count("class='fail'>FAIL") == 4
    assert "<td class='pass'>PASS</td>" in page and "untrained" in page and "champion" in page

    md = paths.markdown.read_text()
    assert md.startswith("# Evaluation report: REJECTED")
    assert "| wer | 0.93 | <= 0.8 | **FAIL** |" in md
    assert "![Training loss](report_losses.png)" in md
    # columns untrained, base, champion, candidate; the base has no QA score
    assert "| speech QA judge score (0-5) | 0 | - | 2.2 | 2.4 |" in md


def test_report_without_optional_inputs(tmp_path):
    decision = decide(CAND, EvalConfig(), BASE)
    paths = write_report(tmp_path, CAND, decision)
    assert set(paths.images) == {"checks", "comparison"}
    assert "No training losses were given" in paths.html.read_text()
    assert "| metric | candidate |" in paths.markdown.read_text()


BENCHES = [
    {"name": "mmlu", "kind": "mmlu", "metric": "accuracy", "n": 200, "score": 0.6, "ci_low": 0.531,
     "ci_high": 0.665, "extra": {"macro_accuracy": 0.55, "subjects": 5, "shots": 5, "format": "letter",
                                 "notes": ["subjects without dev rows take shots from other subjects: virology"]}},
    {"name": "openhermes_audio", "kind": "speech_qa", "metric": "judge 0-5", "n": 40, "score": 3.1,
     "ci_low": 2.7, "ci_high": 3.5, "extra": {"judge": "offline scorer", "exact": 0.2, "unparseable_verdicts": 2}},
    {"name": "librispeech_test_clean", "kind": "asr_test", "metric": "WER", "n": 30, "score": 0.12,
     "ci_low": 0.1, "ci_high": 0.14, "extra": {"cer": 0.06}},
]


def test_retention_curve_from_the_candidate_and_stage_points():
    from ichigo.eval.curve import curve_drops, retention_curve
    cand = {"bench/mmlu/score": 0.638, "bench/mmlu/base_score": 0.694, "bench/gsm8k/score": 0.5}
    points = {"stage1": {"mmlu": {"score": 0.421}}, "stage2": {"mmlu": {"score": 0.631}}}
    curve = retention_curve(cand, points)
    assert curve == {"mmlu": {"base": 0.694, "stage1": 0.421, "stage2": 0.631, "stage3": 0.638}}
    drops = curve_drops(curve)["mmlu"]
    assert round(drops["stage1"], 3) == 0.393 and round(drops["stage3"], 3) == 0.081  # the paper's numbers


@pytest.mark.slow  # matplotlib figures
def test_report_has_benchmark_rows_curve_plot_and_judge(tmp_path):
    decision = decide(CAND, EvalConfig(), BASE, None)
    curve = {"mmlu": {"base": 0.694, "stage1": 0.421, "stage2": 0.631, "stage3": 0.638}}
    paths = write_report(tmp_path, CAND, decision, LOSSES, BASE, benchmarks=BENCHES, curve=curve,
                         judge="offline scorer", notes=["held-out check (report only): 3 of 200 items ..."])
    assert "curve" in paths.images and paths.images["curve"].read_bytes()[:4] == b"\x89PNG"
    md = paths.markdown.read_text()
    assert "Speech-QA judge: **offline scorer**" in md
    assert "| mmlu | mmlu | accuracy | 200 | 0.6 | 0.531 - 0.665 (Wilson) | macro 0.55 over 5 subjects, 5-shot, letter" in md
    assert "| openhermes_audio | speech_qa | judge 0-5 | 40 | 3.1 | 2.7 - 3.5 (bootstrap) | judge: offline scorer; unparseable verdicts 2" in md
    assert "| mmlu | 0.694 | 0.421 | 0.631 | 0.638 | 8.1% |" in md
    assert "held-out check (report only)" in md and "![Retention per stage](report_curve.png)" in md
    page = paths.html.read_text()
    assert "<b>offline scorer</b>" in page and "<td>librispeech_test_clean</td>" in page
    assert page.count("data:image/png;base64,") == 4
