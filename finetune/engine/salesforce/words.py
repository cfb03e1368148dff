"""The words of an org: numbers, API names, objects and fields as a person says them."""

from __future__ import annotations

import re
from typing import Final

from finetune.engine.phrasing import singular, table_nouns
from finetune.engine.salesforce.profile import FieldProfile, ObjectProfile
from specialists.quantities import TENS, UNITS
from specialists.scope import LEXICON, words_of

_UNIT_WORDS: Final = {number: word for word, number in UNITS.items()}
_TEN_WORDS: Final = {number: word for word, number in TENS.items()}


def number_words(n: int) -> str:
    """``n`` in words, as :func:`specialists.quantities.numbers_as_digits` reads them back.

    75000 -> "seventy-five thousand", 250 -> "two hundred and fifty".
    """
    if n < 0:
        raise ValueError("only numbers from 0 up are spelt")
    if n < 20:
        return _UNIT_WORDS[n]
    if n < 100:
        tens, rest = divmod(n, 10)
        return _TEN_WORDS[tens * 10] + (f"-{_UNIT_WORDS[rest]}" if rest else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_UNIT_WORDS[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")
    for scale, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= scale:
            head, rest = divmod(n, scale)
            return f"{number_words(head)} {word}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _bare(name: str) -> str:
    """An API name without a custom suffix or namespace: ``ns__Start_Date__c`` -> ``Start_Date``."""
    return re.sub(r"__(c|r|mdt|e|x)$", "", name).split("__")[-1]


def name_words(name: str) -> str:
    """An API name as words: ``StageName`` -> "stage name", ``Start_Date__c`` -> "start date"."""
    return words_of(_bare(name))


def object_nouns(obj: ObjectProfile) -> list[str]:
    """Plural nouns for an object: its name as words, its plural label, lexicon words.

    A lexicon word that names one of the object's fields ("emails" for contacts) is left out.
    """
    field_words = {
        word
        for spec in obj.fields.values()
        for word in name_words(spec.name).split() + spec.label.lower().split()
    } - set(name_words(obj.name).split())
    nouns = [
        noun
        for noun in [*table_nouns(_bare(obj.name)), obj.label_plural.lower()]
        if not set(singular(noun).split()) & field_words
    ]
    return list(dict.fromkeys(nouns))


def field_nouns(spec: FieldProfile) -> list[str]:
    """Singular nouns for a field: its label, its name as words, lexicon nouns for it."""
    label = re.sub(r"\s*\(.*?\)", "", spec.label).lower()
    if spec.type == "reference":
        label = re.sub(r"\s*id$", "", label)
    own = name_words(spec.name)
    if spec.type == "reference":
        own = re.sub(r"\s*id$", "", own)
    nouns = [label, own] if " " in label or label != own.replace(" ", "") else [own]
    lowered = {key.lower(): words for key, words in LEXICON.items()}
    values = {v.lower() for v in spec.picklist}
    for word in lowered.get(spec.name.lower(), ()):
        inside = any(word in value for value in values)
        if singular(word) == word and not inside and not word.endswith(("ed", "ing")):
            nouns.append(word)
    return [n for n in dict.fromkeys(nouns) if n]


def _singular(noun: str) -> str:
    """``noun`` in the singular ("people" -> "person", "Account records" -> "Account record")."""
    return "person" if noun == "people" else singular(noun)


def _date_verb(spec: FieldProfile) -> str | None:
    """``CreatedDate`` -> "created", ``ClosedDate`` -> "closed"; None for "close date"."""
    words = name_words(spec.name).split()
    if len(words) > 1 and words[-1] in ("date", "on", "at", "time"):
        words = words[:-1]
    return words[0] if len(words) == 1 and words[0].endswith("ed") else None


def _adjective(spec: FieldProfile) -> str:
    """A boolean field as an adjective: ``IsWon`` (label "Won") -> "won"."""
    label = spec.label.lower()
    return label[3:] if label.startswith("is ") else label
