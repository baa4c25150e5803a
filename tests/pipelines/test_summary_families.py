"""The run summary prints spoken-QA exact and WER for every held-out voice family."""

from pipelines.run_local import family_lines


def test_family_lines_list_every_family_with_mean_and_lowest():
    metrics = {"speech_qa_exact/caribbean": 0.8, "wer/caribbean": 0.12, "n_speech_qa/caribbean": 40,
               "speech_qa_exact/scottish": 0.6, "wer/scottish": 0.2, "n_speech_qa/scottish": 38,
               "speech_qa_exact_mean_family": 0.7, "speech_qa_exact_min_family": 0.6}
    text = "\n".join(family_lines(metrics))
    assert "| caribbean | 40 | 80.0% [65, 90] | - | 0.120 |" in text
    assert "| scottish | 38 | 60.0% [45, 74] | - | 0.200 |" in text
    assert "mean over families 70.0%, lowest 60.0%" in text


def test_no_families_no_lines():
    assert family_lines({"wer": 0.1}) == []
