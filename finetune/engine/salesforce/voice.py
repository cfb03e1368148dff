"""The voice of one realisation: its word choices, and how it says an intent's filters.

A :class:`_Voice` picks the nouns of objects and fields once per request and writes values,
numbers, dates and date literals; :func:`_say` puts the subject of an intent and its
conditions into words.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from finetune.engine.phrasing import _article, singular
from finetune.engine.salesforce.intents import Condition, Meaning
from finetune.engine.salesforce.profile import (
    FieldProfile,
    ObjectProfile,
    OrgProfile,
    obj_name_fields,
)
from finetune.engine.salesforce.words import (
    _adjective,
    _date_verb,
    _singular,
    field_nouns,
    name_words,
    number_words,
    object_nouns,
)

_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

_LITERAL_WORDS: Final[Mapping[str, tuple[str, ...]]] = {
    "TODAY": ("today",),
    "YESTERDAY": ("yesterday",),
    "TOMORROW": ("tomorrow",),
    "THIS_WEEK": ("this week",),
    "LAST_WEEK": ("last week", "in the previous week"),
    "NEXT_WEEK": ("next week",),
    "THIS_MONTH": ("this month",),
    "LAST_MONTH": ("last month", "in the previous month"),
    "NEXT_MONTH": ("next month",),
    "THIS_QUARTER": ("this quarter", "in the current quarter"),
    "LAST_QUARTER": ("last quarter", "in the previous quarter"),
    "NEXT_QUARTER": ("next quarter", "in the coming quarter"),
    "THIS_YEAR": ("this year", "in the current year"),
    "LAST_YEAR": ("last year", "in the previous year"),
    "NEXT_YEAR": ("next year",),
}


@dataclass
class _Voice:
    """The word choices of one realisation of an intent."""

    profile: OrgProfile
    rng: random.Random
    lower_values: bool
    spoken_numbers: bool
    iso_dates: bool
    chosen: dict[str, str] = field(default_factory=dict)
    keep: list[str] = field(default_factory=list)
    """Texts the request must hold verbatim: Ids and free-text values."""
    values: list[str] = field(default_factory=list)
    """Every value written, kept whole when a word is misspelt."""

    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(list(options))

    def _once(self, key: str, options: Sequence[str]) -> str:
        if key not in self.chosen:
            first = options[0]
            self.chosen[key] = first if self.rng.random() < 0.45 else self.pick(options)
        return self.chosen[key]

    def objects(self, name: str, *, records: bool = True) -> str:
        """A plural noun for object ``name``, chosen once per realisation.

        With ``records``, "<Object> records" is among the choices (not where the object is
        a parent named in passing: "at accounts in ...").
        """
        obj = self.profile.objects[name]
        if not records:
            return self._once(f"objects:{name}", object_nouns(obj))
        return self._once(f"object:{name}", [*object_nouns(obj), f"{obj.label} records"])

    def one(self, name: str, *, records: bool = True) -> str:
        """A singular noun for object ``name``."""
        return _singular(self.objects(name, records=records))

    def parent(self, name: str) -> str:
        """A singular noun for object ``name`` inside a field's name ("account industry")."""
        return singular(name_words(name))

    def field(self, obj: ObjectProfile, path: str) -> str:
        """A noun for the field at ``path`` (a parent path: "account industry")."""
        spec = obj.spec(path)
        noun = self._once(f"field:{spec.owner}.{spec.name}", field_nouns(spec))
        if "." in path:
            parent = self.parent(spec.owner)
            if spec.name in obj_name_fields(self.profile, spec.owner):
                return f"{parent} name" if noun.endswith("name") else parent
            return noun if noun.startswith(parent) else f"{parent} {noun}"
        return noun

    def ident(self, record_id: str) -> str:
        self.keep.append(record_id)
        return record_id

    def text(self, value: str) -> str:
        self.keep.append(value)
        self.values.append(value)
        return value

    def choice(self, spec: FieldProfile, value: str) -> str:
        """A picklist value as a person writes it: sometimes in lower case."""
        self.values.append(value)
        if self.lower_values and spec.type == "picklist":
            return value.lower()
        return value

    def value(self, spec: FieldProfile, value: Any) -> str:
        """Any field value as a request writes it."""
        if value is None:
            return "empty"
        if isinstance(value, bool):
            return "true" if value else "false"
        if spec.is_number:
            return self.number(value, spec.type)
        if spec.type == "reference" or spec.type == "id":
            return self.ident(str(value))
        if spec.type == "picklist":
            return self.choice(spec, str(value))
        if spec.type == "date":
            return self.date(str(value))
        return self.text(str(value))

    def number(self, value: Any, ftype: str = "double") -> str:
        """A number: digits, grouped, with a currency sign, "75k", or in words."""
        if isinstance(value, float) and not value.is_integer():
            return f"{value:g}"
        n = int(value)
        self.values.append(str(n))
        round_number = n == int(float(f"{n:.2g}"))
        if self.spoken_numbers and round_number and n > 1:
            spoken = number_words(n)
            self.values.append(spoken)  # a misspelt number word would not be read back
            return f"{spoken} percent" if ftype == "percent" else spoken
        if ftype == "percent":
            return self.pick((f"{n}%", f"{n} percent", f"{n}%"))
        forms = [str(n)]
        if n >= 1000:
            forms.append(f"{n:,}")
        if ftype == "currency":
            forms += [f"${n:,}", f"${n:,}"]
            if 1000 <= n < 10**6 and n % 1000 == 0:
                forms += [f"{n // 1000}k", f"${n // 1000}k"]
            if n >= 10**6 and n % 100_000 == 0:
                forms.append(f"${n / 10**6:g}m")
        return self.pick(forms)

    def count(self, n: int) -> str:
        """A small count (a LIMIT, a HAVING bound), in digits or words."""
        return number_words(n) if self.spoken_numbers and n > 1 else str(n)

    def date(self, day: str) -> str:
        """An ISO date, as written: ISO or with the month's name."""
        self.values.append(day)
        if self.iso_dates:
            return day
        year, month, number = int(day[:4]), int(day[5:7]), int(day[8:10])
        name = _MONTHS[month - 1]
        return self.pick((f"{name} {number}, {year}", f"{number} {name} {year}"))

    def literal(self, literal: str) -> str:
        """A date literal in words: "this quarter", "in the last 30 days"."""
        name, _, n = literal.partition(":")
        if name in _LITERAL_WORDS:
            return self.pick(_LITERAL_WORDS[name])
        number = self.count(int(n))
        unit = "days" if name.endswith("DAYS") else "months"
        if name.startswith("LAST"):
            return self.pick((f"in the last {number} {unit}", f"in the past {number} {unit}",
                              f"over the last {number} {unit}"))  # fmt: skip
        return self.pick((f"in the next {number} {unit}", f"within the next {number} {unit}"))


def _condition_forms(v: _Voice, obj: ObjectProfile, c: Condition) -> tuple[list[str], list[str]]:
    """The post-nominal phrases and the keyword strings that say ``c``."""
    if "." in c.path:
        return _parent_forms(v, obj, c)
    spec = obj.spec(c.path)
    f = v.field(obj, c.path)
    kind = c.kind
    if kind == "ref":
        parent = v.one(obj.parents[spec.relationship or ""][1]) if spec.relationship else f
        i = v.ident(str(c.values[0]))
        return [
            f"of {parent} {i}",
            f"for {parent} {i}",
            f"linked to {parent} {i}",
            f"under {parent} {i}",
            f"whose {parent} is {i}",
        ], [f"{parent} {i}", i]
    if kind in ("eq", "ne", "in", "not_in"):
        said = [v.value(spec, x) for x in c.values]
        if kind == "eq":
            x = said[0]
            posts = [f"with {f} {x}", f"whose {f} is {x}", f"where the {f} is {x}"]
            if spec.type == "picklist":
                posts.append(f"in the {x} {f}")
            alone = spec.type == "picklist" and "." not in c.path and _unique_value(obj, spec, x)
            return posts, [f"{f} {x}", f"{f}={x}", x if alone else f"{f} {x}"]
        if kind == "ne":
            x = said[0]
            return [
                f"whose {f} is not {x}",
                f"with {f} other than {x}",
                f"where the {f} isn't {x}",
            ], [
                f"{f} not {x}",
                f"{f} != {x}",
            ]
        listed = ", ".join(said[:-1]) + " or " + said[-1]
        if kind == "in":
            return [
                f"with {f} {listed}",
                f"whose {f} is {listed}",
                f"whose {f} is one of {', '.join(said)}",
            ], [f"{f} {'/'.join(said)}", f"{f} in {', '.join(said)}"]
        both = " and ".join(said) if len(said) == 2 else listed
        return [
            f"whose {f} is not {listed}",
            f"with {f} other than {both}",
            f"excluding {f} {both}",
        ], [f"{f} not {'/'.join(said)}", f"{f} excluding {', '.join(said)}"]
    if kind == "prefix":
        x = v.text(str(c.values[0]))
        return [
            f"whose {f} starts with {x}",
            f"with {_article(f)} beginning with {x}",
            f'with {f} starting with "{x}"',
        ], [f"{f} starting {x}", f"{f} {x}*", f"{f} begins with {x}"]
    if kind == "contains":
        x = v.text(str(c.values[0]))
        return [
            f"whose {f} contains {x}",
            f'with "{x}" in the {f}',
            f"with {_article(f)} containing {x}",
            f"mentioning {x} in the {f}",
        ], [f"{f} containing {x}", f"{f} like {x}", f'"{x}" in {f}']
    if kind == "suffix":
        domain = str(c.values[0])
        x = v.text(domain.lstrip("@") if v.rng.random() < 0.6 else domain)
        return [
            f"with {_article(f)} at {x}",
            f"whose {f} ends with {x}",
            f"with {f} on {x}",
        ], [f"{f} {x}", f"{f} ending {x}", f"@{x.lstrip('@')}"]
    if kind in ("gt", "lt"):
        n = v.number(c.values[0], spec.type)
        if kind == "gt":
            posts = [
                f"with {f} over {n}",
                f"whose {f} is more than {n}",
                f"with {_article(f)} above {n}",
            ]
            posts += [f"worth more than {n}"] if spec.type == "currency" else []
            return posts, [f"{f} > {n}", f"{f} over {n}", f"{f} above {n}"]
        posts = [
            f"with {f} under {n}",
            f"whose {f} is less than {n}",
            f"with {_article(f)} below {n}",
        ]
        posts += [f"worth less than {n}"] if spec.type == "currency" else []
        return posts, [f"{f} < {n}", f"{f} under {n}", f"{f} below {n}"]
    if kind == "between":
        a, b = (v.number(x, spec.type) for x in c.values)
        if v.spoken_numbers:  # "two hundred and fifty" reads as one number: no "a and b"
            return [f"whose {f} is from {a} to {b}", f"with {_article(f)} of {a} to {b}"], [
                f"{f} from {a} to {b}"
            ]
        return [
            f"with {f} between {a} and {b}",
            f"whose {f} is from {a} to {b}",
            f"with {_article(f)} of {a} to {b}",
        ], [f"{f} {a}-{b}", f"{f} between {a} and {b}"]
    if kind in ("literal", "since", "before", "year"):
        return _date_forms(v, spec, f, c)
    if kind in ("true", "false"):
        adjective = _adjective(spec)
        if kind == "true":
            return [
                f"that are {adjective}",
                f"marked as {adjective}",
                f"that are marked {adjective}",
            ], [
                adjective,
                f"{f}=true",
            ]
        return [f"that are not {adjective}", f"not marked as {adjective}"], [
            f"not {adjective}",
            f"{f}=false",
        ]
    if kind == "null":
        return [
            f"without {_article(f)}",
            f"with no {f}",
            f"whose {f} is empty",
            f"where the {f} is not set",
        ], [f"no {f}", f"{f} empty", f"{f} missing"]
    return [
        f"with {_article(f)}",
        f"that have {_article(f)}",
        f"whose {f} is filled in",
        f"where the {f} is set",
    ], [f"with {f}", f"{f} set", f"has {f}"]


def _date_forms(v: _Voice, spec: FieldProfile, f: str, c: Condition) -> tuple[list[str], list[str]]:
    verb = _date_verb(spec)
    kind, x = c.kind, c.values[0]
    if kind == "literal":
        span = v.literal(str(x))
        keys = [f"{f} {span}", span]
        if verb:
            return [f"{verb} {span}"], keys
        return [f"with {_article(f)} {span}", f"whose {f} falls {span}"], keys
    if kind == "year":
        year = str(x)
        posts = [f"with {_article(f)} in {year}", f"whose {f} is in {year}"]
        return ([f"{verb} in {year}", f"{verb} during {year}"] if verb else posts), [
            f"{f} {year}",
            f"{year} {f}",
        ]
    day = v.date(str(x))
    if kind == "since":
        posts = [f"with {f} on or after {day}", f"whose {f} is {day} or later"]
        verbs = [f"{verb} since {day}", f"{verb} on or after {day}"] if verb else []
        return verbs or posts, [f"{f} since {day}", f"{f} >= {day}"]
    posts = [f"with {f} before {day}", f"whose {f} is earlier than {day}"]
    verbs = [f"{verb} before {day}", f"{verb} prior to {day}"] if verb else []
    return verbs or posts, [f"{f} before {day}", f"{f} < {day}"]


def _parent_forms(v: _Voice, obj: ObjectProfile, c: Condition) -> tuple[list[str], list[str]]:
    """A condition on a parent's field: "at accounts in the Media industry", "of Acme Corp"."""
    relationship, _, name = c.path.partition(".")
    parent_name = obj.parents[relationship][1]
    parent = v.profile.objects[parent_name]
    p, ps = v.one(parent_name, records=False), v.objects(parent_name, records=False)
    if c.kind == "eq" and name in parent.name_fields:
        x = v.text(str(c.values[0]))
        return [f"of {p} {x}", f"for {x}", f"belonging to {x}", f"at {p} {x}", f"linked to {x}"], [
            f"{p} {x}",
            x,
        ]
    inner = Condition(c.kind, name, c.type, c.values)
    posts, keys = _condition_forms(v, parent, inner)
    post = v.pick(posts)
    return [f"at {ps} {post}", f"of {ps} {post}", f"belonging to {ps} {post}"], [
        f"{p} {v.pick(keys)}"
    ]


@dataclass
class _Said:
    """How one realisation says the subject and its filters."""

    nominal: str
    """"deals in the Closed Won stage with amount over 50000"."""
    keywords: str
    """"deals stage Closed Won amount > 50000"."""
    one: str
    """The subject in the singular with its filters."""


def _say(v: _Voice, meaning: Meaning) -> _Said:
    obj = v.profile.objects[meaning.sobject]
    rng = v.rng
    subject = v.objects(obj.name)
    posts: list[str] = []
    keys: list[str] = []
    premodifier = ""
    for c in meaning.conditions:
        phrases, spoken = _condition_forms(v, obj, c)
        keys.append(v.pick(spoken))
        spec = obj.spec(c.path)
        value = str(c.values[0]) if c.values else ""
        if (
            c.kind == "eq"
            and spec.type == "picklist"
            and "." not in c.path
            and not premodifier
            and len(value.split()) <= 2
            and _unique_value(obj, spec, value)
            and rng.random() < 0.35
        ):
            premodifier = v.choice(spec, value) + " "
        elif c.kind in ("true",) and not premodifier and rng.random() < 0.5:
            premodifier = _adjective(spec) + " "
        else:
            posts.append(v.pick(phrases))
    if meaning.either is not None:
        pair = [_condition_forms(v, obj, c) for c in meaning.either]
        posts.append(" or ".join(v.pick(phrases) for phrases, _ in pair))
        keys.append(" or ".join(v.pick(spoken) for _, spoken in pair))
    if len(posts) > 1 and rng.random() < 0.3:
        rng.shuffle(posts)
    glue = rng.choice((" and ", " and ", ", "))
    said = (
        glue.join(posts[:-1]) + (" and " if len(posts) > 2 else glue) + posts[-1]
        if len(posts) > 1
        else "".join(posts)
    )
    nominal = f"{premodifier}{subject}" + (f" {said}" if said else "")
    one = f"{premodifier}{_singular(subject)}" + (f" {said}" if said else "")
    keywords = " ".join([subject, *keys]).strip()
    return _Said(nominal, keywords, one)


def _unique_value(obj: ObjectProfile, spec: FieldProfile, value: str) -> bool:
    """Whether ``value`` is a value of no other picklist of ``obj`` (so it says its field)."""
    return not any(
        value.lower() in {p.lower() for p in other.picklist}
        for other in obj.fields.values()
        if other.name != spec.name
    )
