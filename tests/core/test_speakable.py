from __future__ import annotations

import pytest

from ichigo.speakable import number_words, ordinal_words, speakable, year_words


@pytest.mark.parametrize("n, words", [(0, "zero"), (13, "thirteen"), (40, "forty"), (105, "one hundred five"),
                                      (1204, "one thousand two hundred four"),
                                      (2_000_001, "two million one"), (-7, "minus seven")])
def test_numbers(n, words):
    assert number_words(n) == words


def test_ordinals_and_years():
    assert ordinal_words(1) == "first" and ordinal_words(22) == "twenty second" and ordinal_words(40) == "fortieth"
    assert year_words(1984) == "nineteen eighty four" and year_words(2005) == "two thousand five"
    assert year_words(1905) == "nineteen oh five"


@pytest.mark.parametrize("text, spoken", [
    ("It is 3.5 km away.", "It is three point five kilometres away."),
    ("About 25% of 1,200 people.", "About twenty five percent of one thousand two hundred people."),
    ("It costs $12.50, or £1.", "It costs twelve dollars and fifty cents, or one pound."),
    ("Water boils at 100°C.", "Water boils at one hundred degrees Celsius."),
    ("A 1 m rope and 60 km/h.", "A one metre rope and sixty kilometres per hour."),
    ("Born in 1984, on the 21st.", "Born in nineteen eighty four, on the twenty first."),
    ("Meet at 7:30 & bring snacks, e.g. fruit.", "Meet at seven thirty and bring snacks, for example fruit."),
    ("Pages 10-20.", "Pages ten to twenty."),
    ("2 + 2 = 4", "two plus two equals four"),
    ("It was the 1990s, not the '80s.", "It was the nineteen nineties, not the eighties."),
])
def test_speakable(text, spoken):
    assert speakable(text) == spoken


def test_plain_words_are_unchanged():
    s = "Paris is the capital of France. It is lovely in spring!"
    assert speakable(s) == s
