"""Phrasing an intent: what each family can say, and the request in one style.

:func:`realise` writes one request for an intent: the :class:`Forms` of its family
(questions, noun phrases, commands, keywords), put into one of
:data:`~finetune.engine.phrasing.STYLES`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from finetune.engine.phrasing import MISSPELL_RATE, STYLES, _article, _misspell, plural
from finetune.engine.salesforce.intents import Intent, Meaning
from finetune.engine.salesforce.profile import ObjectProfile, OrgProfile
from finetune.engine.salesforce.voice import _say, _Voice
from finetune.engine.salesforce.words import _date_verb


def _possessive(name: str) -> str:
    """A name's possessive: "Acme Holdings" -> "Acme Holdings'", "Ada" -> "Ada's"."""
    return name + "'" if name.endswith("s") else name + "'s"


def _and(parts: Sequence[str]) -> str:
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


@dataclass
class Forms:
    """What one realisation can say: questions, noun phrases or commands, keyword strings."""

    questions: list[str]
    """Full questions, without the question mark."""
    phrases: list[str]
    """Noun phrases of the answer, for read commands: "the number of deals won this year"."""
    keywords: list[str]
    """Keyword strings: "deals won this year count"."""
    listing: bool = True
    """Whether the answer is a list of records."""
    commands: list[str] = field(default_factory=list)
    """Full imperative sentences (writes, describe), without the full stop."""


def _list_forms(v: _Voice, m: Meaning) -> Forms:
    s = _say(v, m)
    obj = v.profile.objects[m.sobject]
    shown = _and(list(dict.fromkeys(v.field(obj, f) for f in m.fields)))
    tail = v.pick((f" with their {shown}", f" and their {shown}", f", showing {shown}",
                   f" including {shown}")) if shown else ""  # fmt: skip
    key_tail = f" {shown}" if shown else ""
    return Forms(
        [
            f"Which {s.nominal} are there{tail}",
            f"What {s.nominal} do we have{tail}",
            f"Who are the {s.nominal}{tail}"
            if v.objects(m.sobject) in ("people", "contacts", "leads")
            else f"Which {s.nominal} exist{tail}",
        ],
        [
            f"the {s.nominal}{tail}",
            f"all {s.nominal}{tail}",
            f"every {s.one}{tail}",
            f"{s.nominal}{tail}",
        ],
        [f"{s.keywords}{key_tail}", f"{s.keywords} list{key_tail}", f"all {s.keywords}{key_tail}"],
    )


def _count_forms(v: _Voice, m: Meaning) -> Forms:
    s = _say(v, m)
    return Forms(
        [
            f"How many {s.nominal} are there",
            f"How many {s.nominal} do we have",
            f"What is the number of {s.nominal}",
            f"What's the count of {s.nominal}",
        ],
        [
            f"the number of {s.nominal}",
            f"the count of {s.nominal}",
            f"how many {s.nominal} there are",
        ],
        [
            f"count {s.keywords}",
            f"number of {s.keywords}",
            f"{s.keywords} count",
            f"# {s.keywords}",
        ],
        listing=False,
    )


_AGGREGATE_WORDS: Final[Mapping[str, tuple[str, ...]]] = {
    "SUM": ("total", "combined", "sum of the", "overall"),
    "AVG": ("average", "mean", "average"),
    "MIN": ("lowest", "smallest", "minimum"),
    "MAX": ("highest", "largest", "maximum", "biggest"),
}
_DATE_AGGREGATE_WORDS: Final[Mapping[str, tuple[str, ...]]] = {
    "MIN": ("earliest", "first", "oldest"),
    "MAX": ("latest", "most recent", "last"),
}


def _measure(v: _Voice, obj: ObjectProfile, function: str, path: str) -> str:
    spec = obj.spec(path)
    words = _DATE_AGGREGATE_WORDS if spec.is_date else _AGGREGATE_WORDS
    return f"{v.pick(words.get(function, ('',)))} {v.field(obj, path)}"


def _aggregate_forms(v: _Voice, m: Meaning) -> Forms:
    assert m.measure is not None
    obj = v.profile.objects[m.sobject]
    function, path = m.measure
    s = _say(v, m)
    if function == "COUNT_DISTINCT":
        fs = plural(v.field(obj, path))
        return Forms(
            [
                f"How many different {fs} do {s.nominal} have",
                f"How many distinct {fs} are there among {s.nominal}",
            ],
            [
                f"the number of distinct {fs} among {s.nominal}",
                f"how many different {fs} the {s.nominal} have",
            ],
            [f"distinct {fs} count {s.keywords}", f"count distinct {fs} {s.keywords}"],
            listing=False,
        )
    value = _measure(v, obj, function, path)
    return Forms(
        [f"What is the {value} of {s.nominal}", f"What's the {value} across {s.nominal}"],
        [f"the {value} of {s.nominal}", f"the {value} for {s.nominal}"],
        [f"{value} {s.keywords}", f"{s.keywords} {value}"],
        listing=False,
    )


def _group_forms(v: _Voice, m: Meaning) -> Forms:
    assert m.measure is not None and m.group is not None
    obj = v.profile.objects[m.sobject]
    s = _say(v, m)
    spec = obj.spec(m.group)
    if m.variant == "year":
        f, verb = v.field(obj, m.group), _date_verb(spec)
        g = v.pick((f"year {verb}", f"{verb} year") if verb else (f"year of {f}", f"{f} year"))
        gs = "years"
    else:
        g = v.field(obj, m.group)
        gs = plural(g)
    function, path = m.measure
    if function == "COUNT":
        if m.having is not None:
            n = v.count(m.having)
            return Forms(
                [
                    f"Which {gs} have more than {n} {s.nominal}",
                    f"What {gs} have over {n} {s.nominal}",
                ],
                [
                    f"the {gs} with more than {n} {s.nominal}",
                    f"every {g} that has over {n} {s.nominal}",
                ],
                [f"{gs} with over {n} {s.keywords}", f"{gs} {s.keywords} count > {n}"],
                listing=False,
            )
        if m.limit is not None:
            k = v.count(m.limit)
            many = g if m.limit == 1 else f"{k} {gs}"
            top = f"{g} has" if m.limit == 1 else f"{k} {gs} have"
            return Forms(
                [
                    f"Which {top} the most {s.nominal}",
                    f"What are the top {many} by number of {s.nominal}",
                ],
                [
                    f"the top {many} by number of {s.nominal}",
                    f"the {many} with the most {s.nominal}",
                ],
                [f"top {many} by {s.keywords} count", f"{s.keywords} count by {g} top {k}"],
                listing=False,
            )
        return Forms(
            [
                f"How many {s.nominal} are there per {g}",
                f"How many {s.nominal} does each {g} have",
                f"What is the number of {s.nominal} by {g}",
            ],
            [
                f"the number of {s.nominal} per {g}",
                f"a breakdown of {s.nominal} by {g}",
                f"the count of {s.nominal} for each {g}",
            ],
            [
                f"{s.keywords} by {g}",
                f"{s.keywords} count per {g}",
                f"count of {s.keywords} by {g}",
            ],
            listing=False,
        )
    value = _measure(v, obj, function, path)
    if m.limit is not None:
        k = v.count(m.limit)
        many = g if m.limit == 1 else f"{k} {gs}"
        top = f"{g} has" if m.limit == 1 else f"{k} {gs} have"
        return Forms(
            [f"Which {top} the highest {value} of {s.nominal}"],
            [
                f"the top {many} by {value} of {s.nominal}",
                f"the {many} with the highest {value} of {s.nominal}",
            ],
            [f"top {many} by {value} {s.keywords}"],
            listing=False,
        )
    return Forms(
        [
            f"What is the {value} of {s.nominal} per {g}",
            f"What is the {value} of {s.nominal} for each {g}",
        ],
        [f"the {value} of {s.nominal} per {g}", f"the {value} of {s.nominal} broken down by {g}"],
        [f"{value} by {g} {s.keywords}", f"{s.keywords} {value} per {g}"],
        listing=False,
    )


def _top_forms(v: _Voice, m: Meaning) -> Forms:
    assert m.order is not None and m.limit is not None
    obj = v.profile.objects[m.sobject]
    path, direction = m.order
    spec = obj.spec(path)
    s = _say(v, m)
    f = v.field(obj, path)
    k = v.count(m.limit)
    if m.variant == "alphabetical":
        return Forms(
            [f"What are the first {k} {s.nominal} in alphabetical order",
             f"Which {k} {s.nominal} come first by {f}"],
            [f"the first {k} {s.nominal} sorted by {f}", f"{k} {s.nominal} in alphabetical order",
             f"the {s.nominal} sorted by {f}, first {k}"],
            [f"{s.keywords} sorted by {f} first {k}", f"{s.keywords} a-z top {k}"],
        )  # fmt: skip
    if spec.is_date:
        top = v.pick(("latest", "most recent") if direction == "DESC" else ("earliest", "oldest"))
    else:
        top = v.pick(
            ("highest", "largest", "biggest") if direction == "DESC" else ("lowest", "smallest")
        )
    rank = "top" if direction == "DESC" else "bottom"
    if spec.is_date:
        rank = "latest" if direction == "DESC" else "earliest"
    if m.limit == 1:
        return Forms(
            [f"Which {s.one} has the {top} {f}", f"What is the {s.one} with the {top} {f}"],
            [f"the {s.one} with the {top} {f}", f"the {rank} {s.one} by {f}"],
            [f"{s.keywords} {top} {f}", f"{rank} 1 {s.keywords} by {f}"],
        )
    return Forms(
        [
            f"Which {k} {s.nominal} have the {top} {f}",
            f"What are the {k} {s.nominal} with the {top} {f}",
        ],
        [f"the {k} {s.nominal} with the {top} {f}", f"the {rank} {k} {s.nominal} by {f}"],
        [f"{rank} {k} {s.keywords} by {f}", f"{s.keywords}, {k} {top} {f}"],
    )


def _parent_forms_of(v: _Voice, m: Meaning) -> Forms:
    obj = v.profile.objects[m.sobject]
    if m.variant == "by_parent_name" and not m.either and len(m.conditions) == 1:
        c = m.conditions[0]
        name = v.text(str(c.values[0]))
        children = v.objects(m.sobject)
        p = v.one(obj.parents[c.path.partition(".")[0]][1])
        return Forms(
            [f"Which {children} does {name} have", f"What {children} belong to {name}",
             f"Which {children} are linked to the {p} {name}"],
            [f"the {children} of {name}", f"{_possessive(name)} {children}",
             f"the {children} of {p} {name}"],
            [f"{name} {children}", f"{children} for {p} {name}", f"{p} {name} {children}"],
        )  # fmt: skip
    forms = _list_forms(v, m)
    if m.variant == "with_parent" and m.fields:
        parent = v.one(obj.spec(m.fields[0]).owner)
        s = _say(v, m)
        forms.questions.append(f"Which {s.nominal} are there, and which {parent} is each one for")
        forms.phrases.append(f"the {s.nominal} together with their {parent}")
    return forms


def _lookup_forms(v: _Voice, m: Meaning) -> Forms:
    obj = v.profile.objects[m.sobject]
    name = v.text(m.record_name or "")
    one = v.one(m.sobject)
    what = _and([v.field(obj, f) for f in m.fields])
    verb = "are" if len(m.fields) > 1 else "is"
    return Forms(
        [f"What {verb} the {what} of {name}", f"What {verb} the {what} of the {one} {name}",
         f"What's {_possessive(name)} {what}"],
        [f"the {what} of {name}", f"the {what} for the {one} {name}",
         f"{_possessive(name)} {what}"],
        [f"{name} {what}", f"{what} of {name}", f"{one} {name} {what}"],
        listing=False,
    )  # fmt: skip


def _get_forms(v: _Voice, m: Meaning) -> Forms:
    obj = v.profile.objects[m.sobject]
    one = v.one(m.sobject)
    i = v.ident(m.record_id or "")
    record = v.pick((f"{one} {i}", f"{one} {i}", f"the {one} record {i}", f"record {i}"))
    if not m.fields:
        return Forms(
            [f"What is on {record}", f"Can I see everything on {record}"],
            [
                f"{record}",
                f"every field of {record}",
                f"the full record of {one} {i}",
                f"all the details of {record}",
            ],
            [f"{one} {i}", f"{i} details", f"{one} {i} all fields"],
            listing=False,
        )
    what = _and([v.field(obj, f) for f in m.fields])
    verb = "are" if len(m.fields) > 1 else "is"
    return Forms(
        [f"What {verb} the {what} of {record}", f"What {verb} the {what} on {record}"],
        [f"the {what} of {record}", f"the {what} on {record}", f"{record}'s {what}"],
        [f"{one} {i} {what}", f"{i} {what}", f"{what} {i}"],
        listing=False,
        commands=[f"Look up {record} and show its {what}", f"Open {record} and give me its {what}"],
    )


def _setting(v: _Voice, obj: ObjectProfile, name: str, value: Any) -> tuple[str, str]:
    """How a request says one value of a create or update: ``(phrase, keyword)``."""
    spec = obj.fields[name]
    f = v.field(obj, name)
    said = v.value(spec, value)
    if spec.type == "reference" and spec.relationship in obj.parents:
        parent = v.one(obj.parents[spec.relationship or ""][1])
        return v.pick(
            (f"for {parent} {said}", f"{parent} {said}", f"linked to {parent} {said}")
        ), f"{parent} {said}"
    if spec.type == "currency" and v.rng.random() < 0.4:
        return f"worth {said}", f"{f} {said}"
    if spec.type == "string" and " " in said and v.rng.random() < 0.3:
        return f'{f} "{said}"', f"{f} {said}"
    return v.pick((f"{f} {said}", f"{f} {said}", f"with {f} {said}")), f"{f} {said}"


def _create_forms(v: _Voice, m: Meaning) -> Forms:
    obj = v.profile.objects[m.sobject]
    one = v.one(m.sobject)
    values = dict(m.values)
    names = [n for n in obj.name_fields if n in values]
    head = ""
    if names:
        name = v.text(" ".join(str(values[n]) for n in names))
        if names in (["Name"], ["FirstName", "LastName"]):
            head = v.pick((f" {name}", f" called {name}", f" named {name}"))
        else:
            noun = v.field(obj, names[0])
            head = v.pick((f' "{name}"', f" with {noun} {name}", f' with {noun} "{name}"'))
        for n in names:
            v.keep.append(str(values[n]))
    rest = [_setting(v, obj, n, x) for n, x in values.items() if n not in names]
    if len(rest) > 1 and v.rng.random() < 0.4:
        v.rng.shuffle(rest)
    phrases = [p for p, _ in rest]
    tail = (v.pick((", ", " with ", ": ")) + _and(phrases)) if phrases else ""
    tail = tail.replace(" with with ", " with ")
    a = _article(one)
    keys = " ".join(k for _, k in rest)
    return Forms(
        [],
        [],
        [f"new {one}{head} {keys}".strip(), f"create {one}{head} {keys}".strip(),
         f"{one} create{head} {keys}".strip()],
        listing=False,
        commands=[f"Create a new {one}{head}{tail}", f"Add {a}{head}{tail}",
                  f"Set up a new {one}{head}{tail}", f"Make a new {one} record{head}{tail}",
                  f"Create {a}{head}{tail}"],
    )  # fmt: skip


def _update_forms(v: _Voice, m: Meaning) -> Forms:
    obj = v.profile.objects[m.sobject]
    one = v.one(m.sobject)
    i = v.ident(m.record_id or "")
    record = f"{one} {i}"
    if m.record_name:
        name = v.text(m.record_name)
        record = v.pick((f"{one} {name} ({i})", f"{one} {i} ({name})"))
    if m.variant == "clear":
        name, _ = m.values[0]
        f = v.field(obj, name)
        return Forms(
            [],
            [],
            [f"{record} clear {f}", f"{i} {f} empty"],
            listing=False,
            commands=[f"Clear the {f} of {record}", f"Remove the {f} from {record}",
                      f"Blank out the {f} on {record}", f"Empty the {f} field of {record}"],
        )  # fmt: skip
    settings = [(v.field(obj, n), _said_value(v, obj, n, x)) for n, x in m.values]
    if len(settings) == 1:
        ((f, x),) = settings
        commands = [f"Set the {f} of {record} to {x}", f"Change the {f} of {record} to {x}",
                    f"Update {record}: {f} {x}", f"Update {record} so its {f} is {x}",
                    f"Change {record}'s {f} to {x}"]  # fmt: skip
        if re.search(r"(Status|Stage)", m.values[0][0]):
            commands += [f"Move {record} to {x}", f"Mark {record} as {x}"]
        keys = [f"{record} {f} {x}", f"{i} {f} -> {x}", f"{i} set {f} {x}"]
    else:
        (f1, x1), (f2, x2) = settings
        commands = [f"Update {record}: {f1} {x1}, {f2} {x2}",
                    f"Set the {f1} of {record} to {x1} and its {f2} to {x2}",
                    f"On {record}, set {f1} to {x1} and {f2} to {x2}",
                    f"Change {record} so that its {f1} is {x1} and its {f2} is {x2}"]  # fmt: skip
        keys = [f"{record} {f1} {x1} {f2} {x2}", f"{i} {f1}={x1}, {f2}={x2}"]
    return Forms([], [], keys, listing=False, commands=commands)


def _said_value(v: _Voice, obj: ObjectProfile, name: str, value: Any) -> str:
    spec = obj.fields[name]
    said = v.value(spec, value)
    if spec.type == "reference" and spec.relationship in obj.parents:
        return f"{v.one(obj.parents[spec.relationship or ''][1])} {said}"
    return said


def _delete_forms(v: _Voice, m: Meaning) -> Forms:
    one = v.one(m.sobject)
    i = v.ident(m.record_id or "")
    record = f"{one} {i}"
    if m.record_name:
        record = f"{one} {v.text(m.record_name)} ({i})"
    return Forms(
        [],
        [],
        [f"delete {one} {i}", f"{one} {i} delete", f"remove {i}"],
        listing=False,
        commands=[f"Delete {record}", f"Remove {record}", f"Delete the {one} with Id {i}",
                  f"Get rid of {record}", f"Delete the {one} record {i}", f"Erase {record}"],
    )  # fmt: skip


def _describe_forms(v: _Voice, m: Meaning) -> Forms:
    obj = v.profile.objects[m.sobject]
    one, many, api = v.one(obj.name), v.objects(obj.name), obj.name
    return Forms(
        [f"What fields does the {api} object have", f"What fields do {many} have",
         f"Which fields and picklist values does {api} have"],
        [f"the fields of {api}", f"the fields and picklist values of {api}",
         f"the fields of the {one} object and their types", f"the {one} schema"],
        [f"{api} fields", f"describe {api}", f"{one} fields and types", f"{api} schema"],
        listing=False,
        commands=[f"Describe the {api} object", f"Describe {api}", f"Show the {one} fields"],
    )  # fmt: skip


_FORMS: Final[Mapping[str, Callable[[_Voice, Meaning], Forms]]] = {
    "list": _list_forms,
    "count": _count_forms,
    "aggregate": _aggregate_forms,
    "group": _group_forms,
    "top": _top_forms,
    "parent": _parent_forms_of,
    "lookup": _lookup_forms,
    "get": _get_forms,
    "create": _create_forms,
    "update": _update_forms,
    "delete": _delete_forms,
    "describe": _describe_forms,
}


def _lower_first(text: str) -> str:
    if text[1:2].islower() or text[1:2] == " ":
        return text[:1].lower() + text[1:]
    return text


def _styled(style: str, forms: Forms, v: _Voice) -> str:
    """The request in ``style`` (one of :data:`STYLES`)."""
    pick = v.pick
    keyword = pick(forms.keywords)
    if not forms.questions:  # a write: commands only
        command = pick(forms.commands)
        lowered = _lower_first(command)
        if style == "question":
            return f"{pick(('Can you', 'Could you', 'Would you'))} {lowered}?"
        if style == "command":
            return command + pick((".", ".", ""))
        if style == "keyword":
            return keyword
        if style == "chatty":
            return pick((f"hey, {lowered} please", f"hi! {lowered}, thanks", f"ok so {lowered}",
                         f"quick one: {lowered}"))  # fmt: skip
        if style == "polite":
            return pick((f"Please {lowered}.", f"Could you please {lowered}?",
                         f"I'd like you to {lowered}, please.", f"Kindly {lowered}."))  # fmt: skip
        return pick((keyword, command, _lower_keeping(keyword, v.keep)))
    question = pick(forms.questions)
    phrase = pick(forms.phrases)
    if forms.commands and v.rng.random() < 0.3 and style in ("command", "polite"):
        command = pick(forms.commands)
        return command + "." if style == "command" else f"Please {_lower_first(command)}."
    if style == "question":
        return question + "?"
    if style == "command":
        verbs = (
            ("List", "Show me", "Give me", "Display", "Pull up", "Find", "Get")
            if forms.listing
            else ("Tell me", "Give me", "Show me", "Get", "Find", "Report")
        )
        return f"{pick(verbs)} {phrase}" + pick((".", ".", ""))
    if style == "keyword":
        return keyword
    if style == "chatty":
        return pick(
            (
                f"hey, quick one - {_lower_first(question)}?",
                f"hi! {_lower_first(question)}?",
                f"so, {_lower_first(question)}?",
                f"hey can you get me {phrase}?",
                f"ok I need {phrase}, thanks",
                f"quick question: {_lower_first(question)}?",
            )
        )
    if style == "polite":
        verb = "list" if forms.listing else "tell me"
        return pick(
            (
                f"Could you please {verb} {phrase}?",
                f"Would you mind showing me {phrase}?",
                f"Please give me {phrase}.",
                f"Can you please {verb} {phrase}?",
                f"I'd like to know {phrase}, please",
                f"Could you tell me {phrase}, please?",
            )
        )
    return pick((keyword + "?", keyword, _lower_first(question) + "?"))


def _lower_keeping(text: str, keep: Sequence[str]) -> str:
    """``text`` in lower case, except the spans in ``keep`` (Ids, free-text values)."""
    spans = sorted({k for k in keep if k}, key=len, reverse=True)
    if not spans:
        return text.lower()
    pattern = re.compile("|".join(re.escape(s) for s in spans))
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(text[last : match.start()].lower())
        out.append(match.group())
        last = match.end()
    out.append(text[last:].lower())
    return "".join(out)


def realise(
    intent: Intent, profile: OrgProfile, rng: random.Random, style: str | None = None
) -> str:
    """One request for ``intent``, in ``style`` (one of :data:`STYLES`; drawn when None).

    Args:
        intent: What the request asks for.
        profile: The org, for the words of its objects, fields and values.
        rng: The random source; the same state gives the same request.
        style: The style; drawn from ``rng`` when None.

    Returns:
        The request; it may be longer than :data:`~finetune.engine.phrasing.MAX_REQUEST`
        (the caller drops those). Every Id and free-text value of the action is in it as
        the action writes it.
    """
    v = _Voice(
        profile,
        rng,
        lower_values=rng.random() < 0.2,
        spoken_numbers=rng.random() < 0.15,
        iso_dates=rng.random() < 0.6,
    )
    forms = _FORMS[intent["family"]](v, intent["meaning"])
    text = _styled(style or rng.choice(STYLES), forms, v)
    text = re.sub(r"\s+", " ", text).strip()
    starts_kept = any(text.startswith(kept) for kept in v.keep)
    if text[:1].islower() and not starts_kept and rng.random() < 0.5:
        text = text[:1].upper() + text[1:]
    if rng.random() < 0.15:
        text = _lower_keeping(text, v.keep)
    if rng.random() < MISSPELL_RATE:
        text = _misspell(text, rng, [*v.keep, *v.values])
    return text
