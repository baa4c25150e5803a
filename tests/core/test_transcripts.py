"""The one transcript normalisation behind every WER (gate, eval, cascade)."""

from ichigo.transcripts import normalize_transcript


def test_spells_numbers_and_drops_case_punctuation_apostrophes_and_accents():
    assert normalize_transcript("It's 42 degrees!") == "its forty two degrees"
    assert normalize_transcript("The 21st floor holds 1,250 people.") == \
        "the twenty first floor holds one thousand two hundred fifty people"
    assert normalize_transcript("Forty-two, CAFÉ") == "forty two cafe"
    assert normalize_transcript("3rd 12th 40th") == "third twelfth fortieth"
    assert normalize_transcript("  a_b\u2019s\n") == "a bs"
    assert normalize_transcript("") == normalize_transcript(None) == ""


def test_numbers_too_long_to_read_stay_digits():
    assert normalize_transcript("id 1234567890123") == "id 1234567890123"
