"""Numbers as people write them, turned into the digits a query needs.

"the top five customers", "deals over 250k", "more than two thousand units", "$1.5m"
become "the top 5 customers", "deals over 250000", "more than 2000 units", "$1500000".
The SQL and Salesforce specialists were trained on requests with digits; a request in
words is shown to them in that form (the request as written is kept everywhere else).

What is left alone, on purpose: a lone "one" or "a" ("which one", "a customer"), since
they are rarely a count; ordinals ("first", "second"); a "m" after a number without a
currency sign ("5m" may be minutes or metres); digits inside identifiers.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

UNITS: Final = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS: Final = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES: Final = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 10**9}
SUFFIXES: Final = {"k": 1_000, "m": 1_000_000, "mn": 1_000_000, "bn": 10**9, "b": 10**9}

_NUMBER_WORD = "|".join(sorted([*UNITS, *TENS, *SCALES], key=len, reverse=True))
_PHRASE = re.compile(
    rf"\b(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMBER_WORD}))*\b", re.IGNORECASE
)
_GROUPED = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,]|\.\d)")
_SHORT = re.compile(r"(?<![\w.])([$€£]?)(\d+(?:\.\d+)?)\s?(k|mn|bn|m|b)\b", re.IGNORECASE)
_DIGITS_SCALE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s+(hundred|thousand|million|billion)\b", re.IGNORECASE
)


def _value(words: list[str]) -> int | None:
    """The number that ``words`` (number words only) spell, or None if they spell none.

    "two three" or "twenty fifteen" spell no number (two numbers side by side are left as
    written).
    """
    total = current = 0
    last_scale = 10**12
    last = ""
    for word in words:
        if word in UNITS:
            if last in UNITS or (last in TENS and UNITS[word] >= 10):
                return None
            current += UNITS[word]
        elif word in TENS:
            if current % 100:
                return None
            current += TENS[word]
        elif word == "hundred":
            if not 1 <= current < 10:
                return None
            current *= 100
        else:
            scale = SCALES[word]
            if current == 0 or scale >= last_scale:
                return None
            total += current * scale
            current, last_scale = 0, scale
        last = word
    return total + current


def _spell(match: re.Match[str]) -> str:
    text = match.group(0)
    words = [w for w in re.split(r"[\s-]+", text.lower()) if w and w != "and"]
    if words in (["one"], ["zero"]) or (len(words) == 1 and words[0] in SCALES):
        return text  # "which one", "hundreds of orders": not a count to write down
    value = _value(words)
    return text if value is None else str(value)


def _number(digits: str, scale: int) -> str:
    value = Decimal(digits) * scale
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value)


def numbers_as_digits(text: str) -> str:
    """``text`` with numbers in words, with thousands separators or with k/m suffixes as digits."""
    text = _PHRASE.sub(_spell, text)
    text = _GROUPED.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DIGITS_SCALE.sub(lambda m: _number(m.group(1), SCALES[m.group(2).lower()]), text)

    def short(match: re.Match[str]) -> str:
        sign, digits, suffix = match.group(1), match.group(2), match.group(3).lower()
        if suffix in ("m", "b") and not sign:
            return match.group(0)
        return sign + _number(digits, SUFFIXES[suffix])

    return _SHORT.sub(short, text)
