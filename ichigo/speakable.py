"""Text -> words a TTS voice can say: numbers, symbols, currencies and units spelled out.

A model asked to "speak in plain words" still writes "3.5 km", "25%" or "$12"; a TTS engine then
reads digits one by one, skips the symbol or says it in the wrong place. The reply's text (what the
user sees) stays as written; only the sentence handed to TTS goes through `speakable`.
English only (the served voices are English).
"""

from __future__ import annotations

import re

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    """Cardinal words of an integer: 1204 -> "one thousand two hundred four"."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return _TENS[t] + (" " + _ONES[o] if o else "")
    if n < 1000:
        h, r = divmod(n, 100)
        return _ONES[h] + " hundred" + (" " + number_words(r) if r else "")
    for value, name in _SCALES:
        if n >= value:
            q, r = divmod(n, value)
            if q >= 1000 and value == 10**12:  # beyond trillions: read the digits
                return " ".join(_ONES[int(d)] for d in str(n))
            return number_words(q) + " " + name + (" " + number_words(r) if r else "")
    raise AssertionError(n)


def ordinal_words(n: int) -> str:
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(n: int) -> str:
    """1984 -> "nineteen eighty four", 2005 -> "two thousand five", 1900 -> "nineteen hundred"."""
    hi, lo = divmod(n, 100)
    if 2000 <= n < 2010 or hi % 10 == 0:
        return number_words(n)
    return number_words(hi) + (" hundred" if lo == 0 else (" oh " + _ONES[lo] if lo < 10 else " " + number_words(lo)))


def decimal_words(text: str) -> str:
    """"3.14" -> "three point one four"; "1,250" -> "one thousand two hundred fifty"."""
    neg = text.startswith("-")
    text = text.lstrip("-").replace(",", "")
    whole, _, frac = text.partition(".")
    out = number_words(int(whole or "0"))
    if frac:
        out += " point " + " ".join(_ONES[int(d)] for d in frac)
    return ("minus " if neg else "") + out


# units after a number (longest first so "km/h" wins over "km"); plural when the number is not 1.
# Letters that are also words or suffixes ("in", "s" as in "1990s", "h", "l") are left alone.
_UNITS = {
    "km/h": ("kilometre per hour", "kilometres per hour"), "mph": ("mile per hour", "miles per hour"),
    "m/s": ("metre per second", "metres per second"), "kg": ("kilogram", "kilograms"),
    "km": ("kilometre", "kilometres"), "cm": ("centimetre", "centimetres"),
    "mm": ("millimetre", "millimetres"), "mg": ("milligram", "milligrams"), "ml": ("millilitre", "millilitres"),
    "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"), "kB": ("kilobyte", "kilobytes"),
    "TB": ("terabyte", "terabytes"), "GHz": ("gigahertz", "gigahertz"), "MHz": ("megahertz", "megahertz"),
    "Hz": ("hertz", "hertz"), "kW": ("kilowatt", "kilowatts"), "W": ("watt", "watts"),
    "ms": ("millisecond", "milliseconds"), "min": ("minute", "minutes"), "m": ("metre", "metres"),
    "g": ("gram", "grams"), "L": ("litre", "litres"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "ft": ("foot", "feet"), "mi": ("mile", "miles"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"), "%": ("percent", "percent"),
}
_CURRENCY = {"$": ("dollar", "dollars"), "€": ("euro", "euros"), "£": ("pound", "pounds"),
             "¥": ("yen", "yen"), "₹": ("rupee", "rupees")}
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number ", "×": " times ",
            "÷": " divided by ", "<": " less than ", ">": " greater than ", "~": " about ", "≈": " about ",
            "/": " slash ", "*": " ", "_": " ", "|": " ", "^": " to the power of ", "°": " degrees "}
_ABBREV = {"e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "vs.": "versus", "approx.": "approximately",
           "Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "St.": "Saint"}

_NUM = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?"
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_MONEY = re.compile(r"([$€£¥₹])\s?(" + _NUM + r")(\s?(?:million|billion|thousand|trillion)\b)?")
_WITH_UNIT = re.compile(r"(" + _NUM + r")\s?(" + _UNIT_ALT + r")(?![\w])")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_YEAR = re.compile(r"\b(?:in|since|from|by|until|of|year)\s+(1[1-9]\d\d|20\d\d)\b", re.I)
_DECADE = re.compile(r"(?:'|\b)(1[1-9]\d0|20\d0|[2-9]0)s\b")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_RANGE = re.compile(r"(\d)\s?[-–]\s?(\d)")
_BARE = re.compile(_NUM)


def _plural(value: str) -> bool:
    return value.replace(",", "").lstrip("-") not in ("1", "1.0")


def speakable(text: str) -> str:
    """The text as a TTS voice should say it (see the module docstring)."""
    for abbr, words in _ABBREV.items():
        text = text.replace(abbr, words)
    text = _MONEY.sub(lambda m: _money(m.group(1), m.group(2), (m.group(3) or "").strip()), text)
    text = _WITH_UNIT.sub(lambda m: decimal_words(m.group(1)) + " "
                          + _UNITS[m.group(2)][1 if _plural(m.group(1)) else 0], text)
    text = _ORDINAL.sub(lambda m: ordinal_words(int(m.group(1))), text)
    text = _DECADE.sub(lambda m: _decade(int(m.group(1))), text)
    text = _YEAR.sub(lambda m: m.group(0)[:m.start(1) - m.start(0)] + year_words(int(m.group(1))), text)
    text = _TIME.sub(lambda m: number_words(int(m.group(1))) + " "
                     + ("o'clock" if m.group(2) == "00" else ("oh " if m.group(2)[0] == "0" else "")
                        + number_words(int(m.group(2))) if m.group(2) != "00" else ""), text)
    text = _RANGE.sub(r"\1 to \2", text)
    text = _BARE.sub(lambda m: decimal_words(m.group(0)), text)
    for sym, words in _SYMBOLS.items():
        text = text.replace(sym, words)
    return re.sub(r"\s+", " ", text).strip()


def _decade(n: int) -> str:
    """1990s -> "nineteen nineties", 80s -> "eighties"."""
    words = (year_words(n) if n >= 1000 else number_words(n)).split()
    last = words[-1]
    words[-1] = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return " ".join(words)


def _money(sym: str, amount: str, scale: str) -> str:
    one, many = _CURRENCY[sym]
    if scale:
        return f"{decimal_words(amount)} {scale} {many}"
    whole, _, cents = amount.replace(",", "").partition(".")
    out = f"{number_words(int(whole))} {one if whole == '1' else many}"
    if cents and int(cents[:2].ljust(2, "0")):
        c = int(cents[:2].ljust(2, "0"))
        out += f" and {number_words(c)} {'cent' if c == 1 else 'cents'}"
    return out


__all__ = ["decimal_words", "number_words", "ordinal_words", "speakable", "year_words"]
