"""Intents into requests: many surface forms of one meaning, in the words of the schema.

Table and column names become words (:func:`specialists.scope.words_of`: ``order_items`` ->
"order items"), in the singular or the plural, or a synonym from
:data:`specialists.scope.LEXICON` where the schema has the name it is for. :func:`realise`
builds, for one :class:`~finetune.engine.compose.Intent`, the questions, noun phrases and
keyword strings that say what it asks, then writes one of them in a style: a question, a
command, keywords, a chatty or polite line, or a terse one; some are written in lower case,
some with a value in lower case, and about one in ten with one longer word misspelt.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from finetune.engine.compose import Condition, Intent
from finetune.engine.profile import SchemaProfile
from specialists.scope import LEXICON, words_of

STYLES = ("question", "command", "keyword", "chatty", "polite", "terse")
"""The styles a request is written in."""

MAX_REQUEST = 300
"""Longest request, in characters."""

MISSPELL_RATE = 0.1
"""Share of requests with one longer word misspelt."""

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ORDINALS = ("first", "second", "third", "fourth")
_VERB_ENDINGS = ("ed", "est", "ive", "ing")
_IRREGULAR_VERBS = frozenset({"sold", "bought", "paid", "made", "built", "held", "sent", "won"})
_AGGREGATE_WORDS: Mapping[str, tuple[str, ...]] = {
    "SUM": ("total", "combined", "overall", "sum of the"),
    "AVG": ("average", "mean", "average"),
    "MIN": ("lowest", "smallest", "minimum"),
    "MAX": ("highest", "largest", "maximum"),
}
_DATE_AGGREGATE_WORDS: Mapping[str, tuple[str, ...]] = {
    "MIN": ("earliest", "first", "oldest"),
    "MAX": ("latest", "most recent", "last"),
}


# ---------------------------------------------------------------- words


def plural(phrase: str) -> str:
    """``phrase`` with its last word in the plural."""
    head, _, last = phrase.rpartition(" ")
    lead = head + " " if head else ""
    if last.endswith(("people", "data", "staff")):
        return phrase
    if last.endswith("s") and not last.endswith(("ss", "us", "is")):
        return phrase
    if last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
        return lead + last[:-1] + "ies"
    if last.endswith(("s", "x", "ch", "sh")):
        return lead + last + "es"
    if last.endswith("person"):
        return lead + last[:-6] + "people"
    return lead + last + "s"


def singular(phrase: str) -> str:
    """``phrase`` with its last word in the singular."""
    head, _, last = phrase.rpartition(" ")
    lead = head + " " if head else ""
    if head and _is_verb_form(last):
        return f"{singular(head)} {last}"
    if last.endswith("people") and len(last) > 6:
        return lead + last[:-6] + "person"
    if last.endswith("ies") and len(last) > 4:
        return lead + last[:-3] + "y"
    if last.endswith(("sses", "xes", "ches", "shes", "uses")):
        return lead + last[:-2]
    if last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        return lead + last[:-1]
    return phrase


def _is_verb_form(word: str) -> bool:
    last = word.split()[-1]
    return last.endswith(_VERB_ENDINGS) or last in _IRREGULAR_VERBS


def _lexicon(name: str) -> tuple[str, ...]:
    lowered = {key.lower(): words for key, words in LEXICON.items()}
    return lowered.get(name.lower(), ())


def table_nouns(table: str) -> list[str]:
    """Plural nouns for a table: its name as words, then lexicon words that are plural nouns.

    "line items" and "salespeople" count; "revenue", "rep", "bought" and "units sold" (which
    says a quantity, not a number of rows) do not.
    """
    nouns = [plural(words_of(table))]
    for word in _lexicon(table):
        parts = word.split()
        last = parts[-1]
        if plural(last) == last and not _is_verb_form(last):
            nouns.append(word)
    return list(dict.fromkeys(nouns))


def column_nouns(column: str) -> list[str]:
    """Singular nouns for a column: its name as words, then lexicon nouns for it."""
    own = words_of(column)
    head, _, last = own.rpartition(" ")
    nouns = [f"{head} date" if head and last in ("on", "at") else own]
    words = _lexicon(column)
    for word in words:
        if _is_verb_form(word) or (singular(word) != word and singular(word) in words):
            continue
        nouns.append(word)
    return list(dict.fromkeys(nouns))


def _date_verb(column: str) -> str | None:
    """``created_on`` -> "created", ``hired_on`` -> "hired"; None for a noun like "order date"."""
    words = words_of(column).split()
    if words and words[-1] in ("on", "at", "date", "time") and len(words) > 1:
        words = words[:-1]
    if len(words) == 1 and words[0].endswith("ed"):
        return words[0]
    verbs = [w for w in _lexicon(column) if w.endswith("ed") and " " not in w]
    return verbs[0] if verbs else None


def _article(noun: str) -> str:
    """``noun`` with "a" or "an"; a plural noun ("pages") stays bare."""
    if plural(noun) == noun:
        return noun
    lowered = noun.lower()
    vowel = lowered[:1] in "aeio" or (
        lowered.startswith("u") and not lowered.startswith(("uni", "use", "usu", "uti"))
    )
    return ("an " if vowel else "a ") + noun


def _month_name(value: str) -> str:
    year, month = value.split("-")
    return f"{_MONTHS[int(month) - 1]} {year}"


# ---------------------------------------------------------------- one realisation


@dataclass
class _Words:
    """The word choices of one realisation of an intent."""

    profile: SchemaProfile
    rng: random.Random
    lower_values: bool
    front: str | None = None
    """A date phrase moved before the rest ("In 2024, ...")."""
    names: dict[str, str] = field(default_factory=dict)

    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(list(options))

    def table(self, table: str, number: str = "plural") -> str:
        """A noun for ``table``, chosen once per realisation."""
        key = f"table:{table}"
        if key not in self.names:
            self.names[key] = self.pick(table_nouns(table))
        noun = self.names[key]
        return singular(noun) if number == "singular" else noun

    def column(self, column: str) -> str:
        key = f"column:{column}"
        if key not in self.names:
            self.names[key] = self.pick(column_nouns(column))
        return self.names[key]

    def value(self, value: str, column_values: Sequence[str]) -> str:
        """A value as a person writes it: sometimes in lower case, where that stays unambiguous."""
        if self.lower_values and value.lower() not in {v for v in column_values if v != value}:
            return value.lower()
        return value

    def only_date(self, condition: Condition) -> bool:
        table = self.profile.tables[condition.table]
        return sum(1 for c in table.columns.values() if c.is_date) == 1


def _values(words: _Words, condition: Condition) -> list[str]:
    column = words.profile.tables[condition.table].columns[condition.column]
    held = column.values or column.samples
    return [words.value(value, held) for value in condition.values]


def _date_phrase(words: _Words, condition: Condition) -> tuple[list[str], list[str]]:
    """Post-nominal phrases and keywords for a date condition."""
    v = condition.values
    if condition.kind == "year":
        spans = [f"in {v[0]}", f"during {v[0]}", f"for the year {v[0]}", f"in the year {v[0]}"]
        keys = [v[0], f"in {v[0]}"]
    elif condition.kind == "month":
        name = _month_name(v[0])
        spans = [f"in {name}", f"during {name}", f"in {v[0]}", f"for {name}"]
        keys = [name, v[0], name.lower()]
    elif condition.kind == "quarter":
        ordinal = _ORDINALS[int(v[1]) - 1]
        spans = [
            f"in Q{v[1]} {v[0]}",
            f"in the {ordinal} quarter of {v[0]}",
            f"during Q{v[1]} {v[0]}",
        ]
        keys = [f"Q{v[1]} {v[0]}", f"{v[0]} Q{v[1]}"]
    elif condition.kind == "since":
        spans = [f"since {v[0]}", f"from {v[0]} on", f"in or after {v[0]}"]
        keys = [f"since {v[0]}", f"{v[0]} onwards"]
    else:
        spans = [f"before {v[0]}", f"prior to {v[0]}", f"earlier than {v[0]}"]
        keys = [f"before {v[0]}", f"pre {v[0]}"]
    verb = _date_verb(condition.column)
    noun = words.column(condition.column)
    posts = [f"with {noun} {span}" for span in spans[:2]] + [f"whose {noun} is {spans[0]}"]
    if verb:
        posts = [f"{verb} {span}" for span in spans]
    if words.only_date(condition):
        posts += spans
    return posts, keys + [f"{noun} {k}" for k in keys[:1]]


def condition_forms(words: _Words, condition: Condition) -> tuple[list[str], list[str]]:
    """The post-nominal phrases and the keyword strings that say ``condition``."""
    kind = condition.kind
    if kind in ("year", "month", "quarter", "since", "before"):
        return _date_phrase(words, condition)
    c = words.column(condition.column)
    if kind in ("null", "notnull"):
        if kind == "null":
            return [
                f"with no {c}",
                f"without {_article(c)}",
                f"whose {c} is missing",
                f"where the {c} is not set",
            ], [f"no {c}", f"{c} missing", f"{c} empty"]
        return [
            f"with {_article(c)}",
            f"that have {_article(c)}",
            f"whose {c} is set",
            f"where the {c} is filled in",
        ], [f"with {c}", f"{c} set", f"has {c}"]
    values = _values(words, condition)
    if kind == "eq":
        v = values[0]
        return [
            f"with {c} {v}",
            f"whose {c} is {v}",
            f"where the {c} is {v}",
            f"in the {v} {c}",
            f"with {_article(c)} of {v}",
        ], [f"{c} {v}", v, f"{c}={v}"]
    if kind in ("in", "or"):
        a, b = values
        return [
            f"with {c} {a} or {b}",
            f"whose {c} is either {a} or {b}",
            f"where the {c} is {a} or {b}",
            f"in the {a} or {b} {c}",
        ], [f"{c} {a} or {b}", f"{a}/{b}", f"{c} {a}, {b}"]
    if kind == "gt":
        n = condition.values[0]
        return [
            f"with {c} over {n}",
            f"whose {c} is greater than {n}",
            f"with {_article(c)} above {n}",
            f"where the {c} is more than {n}",
        ], [f"{c} > {n}", f"{c} over {n}", f"{c} above {n}"]
    if kind == "lt":
        n = condition.values[0]
        return [
            f"with {c} under {n}",
            f"whose {c} is less than {n}",
            f"with {_article(c)} below {n}",
            f"where the {c} is lower than {n}",
        ], [f"{c} < {n}", f"{c} under {n}", f"{c} below {n}"]
    if kind == "between":
        a, b = condition.values
        return [
            f"with {c} between {a} and {b}",
            f"whose {c} is between {a} and {b}",
            f"with {_article(c)} from {a} to {b}",
        ], [f"{c} {a}-{b}", f"{c} between {a} and {b}"]
    if kind == "prefix":
        x = condition.values[0]
        return [
            f"whose {c} starts with {x}",
            f"with {_article(c)} beginning with {x}",
            f'with {c} starting with "{x}"',
        ], [f"{c} starting {x}", f"{c} {x}*", f"{c} begins {x}"]
    w = condition.values[0]
    return [
        f"whose {c} contains {w}",
        f'with "{w}" in the {c}',
        f"with {_article(c)} containing {w}",
        f"whose {c} includes {w}",
    ], [f"{c} containing {w}", f"{c} like {w}", f'"{w}" in {c}']


@dataclass
class _Said:
    """How one realisation says the subject and its conditions."""

    nominal: str
    """The subject with its conditions: "orders with status cancelled in 2024"."""
    keywords: str
    """The same as keywords: "orders status cancelled 2024"."""
    one: str
    """The subject in the singular with its conditions: "cancelled order in 2024"."""


def _join_phrases(phrases: Sequence[str], rng: random.Random) -> str:
    if len(phrases) < 2:
        return "".join(phrases)
    glue = rng.choice((" and ", " and ", ", "))
    return (
        glue.join(phrases[:-1]) + " and " + phrases[-1] if len(phrases) > 2 else glue.join(phrases)
    )


def _say(words: _Words, intent: Intent, table: str, conditions: Sequence[Condition]) -> _Said:
    """The subject ``table`` with ``conditions`` (those on other tables via its foreign keys)."""
    rng = words.rng
    subject = words.table(table)
    own = [c for c in conditions if c.table == table]
    posts: list[str] = []
    keys: list[str] = []
    premodifier = ""
    for condition in own:
        phrases, spoken = condition_forms(words, condition)
        keys.append(words.pick(spoken))
        is_date = condition.kind in ("year", "month", "quarter")
        fronts = [p for p in phrases if is_date and p.startswith(("in ", "during ", "for "))]
        values = _values(words, condition)
        column = words.profile.tables[table].columns[condition.column]
        if (
            condition.kind == "eq"
            and column.is_category
            and not premodifier
            and len(values[0].split()) <= 2
            and rng.random() < 0.35
        ):
            premodifier = values[0] + " "
        elif fronts and words.front is None and words.only_date(condition) and rng.random() < 0.3:
            words.front = words.pick(fronts)
        else:
            posts.append(words.pick(phrases))
    for condition in conditions:
        if condition.table == table:
            continue
        posts.append(_parent_phrase(words, intent, condition))
        key = words.pick(condition_forms(words, condition)[1])
        parent = words.profile.tables[condition.table]
        if condition.column != parent.label:
            key = f"{_role(intent, parent.name)} {key}"
        keys.append(key)
    if rng.random() < 0.3:
        rng.shuffle(posts)
    said = _join_phrases(posts, rng)
    nominal = f"{premodifier}{subject}" + (f" {said}" if said else "")
    one = f"{premodifier}{singular(subject)}" + (f" {said}" if said else "")
    keywords = f"{subject} {' '.join(keys)}".strip()
    return _Said(nominal, keywords, one)


def _parent_phrase(words: _Words, intent: Intent, condition: Condition) -> str:
    """A condition on a parent table: "of customers in Germany", "for Jade Cloud Ltd"."""
    parent = words.profile.tables[condition.table]
    nouns = words.table(parent.name)
    role = _role(intent, parent.name)
    if condition.kind == "eq" and condition.column == parent.label:
        name = _values(words, condition)[0]
        named = [f"of {role} {name}", f"for the {role} {name}", f"linked to {role} {name}"]
        if len(intent.path) == 1:
            named += [f"of {name}", f"for {name}", f"belonging to {name}"]
        return words.pick(named)
    phrases, _ = condition_forms(words, condition)
    post = words.pick(phrases)
    return words.pick((f"of {nouns} {post}", f"for {nouns} {post}", f"belonging to {nouns} {post}"))


def _role(intent: Intent, parent: str) -> str:
    """The singular noun for a parent: the foreign key's own name ("rep") or the table's."""
    for fk in intent.path:
        if fk.ref_table == parent:
            name = re.sub(r"_?id$", "", fk.column, flags=re.IGNORECASE)
            if name:
                return words_of(name)
    return singular(words_of(parent))


# ---------------------------------------------------------------- forms per template


@dataclass
class Forms:
    """What one realisation can say: questions, noun phrases and keyword strings."""

    questions: list[str]
    """Full questions, without the question mark."""
    phrases: list[str]
    """Noun phrases of the answer, for commands: "the number of orders in 2024"."""
    keywords: list[str]
    """Keyword strings: "orders count 2024"."""
    listing: bool
    """Whether the answer is a list of rows (else a value or a table of values)."""


def _rows_forms(words: _Words, intent: Intent) -> Forms:
    s = _say(words, intent, intent.table, intent.conditions)
    return Forms(
        [
            f"Which {s.nominal} are there",
            f"What {s.nominal} do we have",
            f"Which {s.nominal} exist",
        ],
        [f"the {s.nominal}", f"all {s.nominal}", f"every {s.one}", s.nominal],
        [s.keywords, f"{s.keywords} list", f"all {s.keywords}"],
        True,
    )


def _measure_words(words: _Words, intent: Intent) -> tuple[str, str, bool]:
    """The aggregate's adjective, the measured noun, and whether it measures a date."""
    measure = intent.measure
    assert measure is not None
    table = words.profile.tables[measure.table]
    columns = measure.columns
    is_date = len(columns) == 1 and table.columns[columns[0]].is_date
    function = measure.function
    table_words = _DATE_AGGREGATE_WORDS if is_date else _AGGREGATE_WORDS
    adjective = words.pick(table_words.get(function, ("",)))
    if len(columns) == 2:
        a, b = (words.column(c) for c in columns)
        nouns = [f"{a} times {b}", f"{a} multiplied by {b}", f"{b} times {a}"]
        lexical = [
            w
            for w in _lexicon(measure.table)
            if " " not in w and not _is_verb_form(w) and singular(w) == w
        ]
        nouns += lexical * 3
        return adjective, words.pick(nouns), False
    return adjective, words.column(columns[0]), is_date


def _aggregate_forms(words: _Words, intent: Intent) -> Forms:
    measure = intent.measure
    assert measure is not None
    s = _say(words, intent, intent.table, intent.conditions)
    if measure.function == "COUNT":
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
                f"the total number of {s.nominal}",
            ],
            [
                f"{s.keywords} count",
                f"number of {s.keywords}",
                f"count {s.keywords}",
                f"# {s.keywords}",
            ],
            False,
        )
    if measure.function == "COUNT_DISTINCT":
        c = plural(words.column(measure.columns[0]))
        return Forms(
            [
                f"How many different {c} do {s.nominal} have",
                f"How many distinct {c} are there among {s.nominal}",
                f"How many unique {c} appear in {s.nominal}",
            ],
            [
                f"the number of distinct {c} of {s.nominal}",
                f"how many different {c} {s.nominal} have",
                f"the count of unique {c} across {s.nominal}",
            ],
            [f"distinct {c} count {s.keywords}", f"number of unique {c} {s.keywords}"],
            False,
        )
    adjective, noun, is_date = _measure_words(words, intent)
    value = f"the {adjective} {noun}"
    phrases = [f"{value} of {s.nominal}", f"{value} across {s.nominal}", f"{value} for {s.nominal}"]
    questions = [f"What is {p}" for p in phrases] + [f"What's {phrases[0]}"]
    if is_date:
        questions.append(f"When was {phrases[0]}")
    return Forms(
        questions,
        phrases,
        [f"{adjective} {noun} {s.keywords}", f"{s.keywords} {adjective} {noun}"],
        False,
    )


def _group_noun(words: _Words, intent: Intent) -> str:
    assert intent.group is not None
    table, column = intent.group
    if table == intent.table:
        return words.column(column)
    parent = words.profile.tables[table]
    role = _role(intent, table)
    if column == parent.label:
        return role
    return f"{role} {words.column(column)}"


def _group_forms(words: _Words, intent: Intent) -> Forms:
    measure = intent.measure
    assert measure is not None
    s = _say(words, intent, intent.table, intent.conditions)
    g = _group_noun(words, intent)
    gs = plural(g)
    k = intent.limit
    many = g if k == 1 else f"{k} {gs}"
    top_many = f"top {g}" if k == 1 else f"top {k} {gs}"
    if measure.function == "COUNT":
        if intent.having is not None:
            n = intent.having
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
                True,
            )
        if k is not None:
            top = f"{g} has" if k == 1 else f"{k} {gs} have"
            return Forms(
                [
                    f"Which {top} the most {s.nominal}",
                    f"What {'is' if k == 1 else 'are'} the {top_many} by number of {s.nominal}",
                ],
                [
                    f"the {top_many} by number of {s.nominal}",
                    f"the {many} with the most {s.nominal}",
                ],
                [f"{top_many} by {s.keywords} count", f"{s.keywords} count by {g} top {k}"],
                True,
            )
        return Forms(
            [
                f"How many {s.nominal} are there per {g}",
                f"How many {s.nominal} does each {g} have",
                f"How many {s.nominal} are there for each {g}",
                f"What is the number of {s.nominal} by {g}",
            ],
            [
                f"the number of {s.nominal} per {g}",
                f"the count of {s.nominal} for each {g}",
                f"a breakdown of {s.nominal} by {g}",
                f"the {s.nominal} counted by {g}",
            ],
            [
                f"{s.keywords} by {g}",
                f"{s.keywords} count per {g}",
                f"count of {s.keywords} by {g}",
            ],
            False,
        )
    adjective, noun, _ = _measure_words(words, intent)
    value = f"{adjective} {noun}"
    if k is not None:
        top = f"{g} has" if k == 1 else f"{k} {gs} have"
        return Forms(
            [f"Which {top} the highest {value} of {s.nominal}"],
            [
                f"the {top_many} by {value} of {s.nominal}",
                f"the {many} with the highest {value}"
                + (f" of {s.nominal}" if intent.conditions else ""),
            ],
            [f"{top_many} by {value} {s.keywords}"],
            True,
        )
    return Forms(
        [
            f"What is the {value} of {s.nominal} per {g}",
            f"What is the {value} of {s.nominal} for each {g}",
        ],
        [
            f"the {value} of {s.nominal} per {g}",
            f"the {value} of {s.nominal} broken down by {g}",
            f"the {value} by {g} for {s.nominal}",
        ],
        [f"{value} by {g} {s.keywords}", f"{s.keywords} {value} per {g}"],
        False,
    )


def _superlative(words: _Words, intent: Intent, table: str, column: str) -> str:
    is_date = words.profile.tables[table].columns[column].is_date
    if intent.order == "desc":
        return words.pick(
            ("latest", "most recent") if is_date else ("highest", "largest", "biggest")
        )
    return words.pick(("earliest", "oldest") if is_date else ("lowest", "smallest"))


def _top_forms(words: _Words, intent: Intent) -> Forms:
    k = intent.limit or 1
    if intent.template == "top_rows":
        assert intent.order_by is not None
        table, column = intent.order_by
        s = _say(words, intent, intent.table, intent.conditions)
        c = words.column(column)
        top = _superlative(words, intent, table, column)
        rank = "top" if intent.order == "desc" else "bottom"
        if k == 1:
            with_conditions = s.one
            return Forms(
                [
                    f"Which {with_conditions} has the {top} {c}",
                    f"What is the {with_conditions} with the {top} {c}",
                ],
                [
                    f"the {with_conditions} with the {top} {c}",
                    f"the {rank} {with_conditions} by {c}",
                ],
                [f"{s.keywords} {top} {c}", f"{rank} 1 {s.keywords} by {c}"],
                True,
            )
        return Forms(
            [
                f"Which {k} {s.nominal} have the {top} {c}",
                f"What are the {k} {s.nominal} with the {top} {c}",
            ],
            [f"the {k} {s.nominal} with the {top} {c}", f"the {rank} {k} {s.nominal} by {c}"],
            [f"{rank} {k} {s.keywords} by {c}", f"{s.keywords} {k} {top} {c}"],
            True,
        )
    assert intent.group is not None and intent.measure is not None
    parent = intent.group[0]
    p, one = words.table(parent), singular(words.table(parent))
    s = _say(words, intent, intent.table, intent.conditions)
    if intent.measure.function == "COUNT":
        most, by = f"the most {s.nominal}", f"number of {s.nominal}"
        key = f"{s.keywords} count"
    else:
        _, noun, _ = _measure_words(words, intent)
        of_them = f" of their {s.nominal}" if intent.conditions else ""
        most, by = f"the highest total {noun}{of_them}", f"total {noun} of their {s.nominal}"
        key = f"total {noun} {s.keywords}"
    if k == 1:
        return Forms(
            [f"Which {one} has {most}", f"Which {one} leads by {by}"],
            [f"the {one} with {most}", f"the top {one} by {by}"],
            [f"top {one} by {key}", f"{one} with most {key}"],
            True,
        )
    return Forms(
        [f"Which {k} {p} have {most}", f"What are the top {k} {p} by {by}"],
        [f"the top {k} {p} by {by}", f"the {k} {p} with {most}"],
        [f"top {k} {p} by {key}", f"{p} ranked by {key} top {k}"],
        True,
    )


def _join_forms(words: _Words, intent: Intent) -> Forms:
    if intent.measure is None:
        return _rows_forms(words, intent)
    return _aggregate_forms(words, intent)


def _subquery_forms(words: _Words, intent: Intent) -> Forms:
    p = words.table(intent.table)
    if intent.template.endswith("_average"):
        assert intent.order_by is not None
        c = words.column(intent.order_by[1])
        side = "above" if intent.order == "desc" else "below"
        more = "higher" if side == "above" else "lower"
        return Forms(
            [
                f"Which {p} have {_article(c)} {side} average",
                f"Which {p} have {_article(c)} {more} than the average",
            ],
            [
                f"the {p} with {_article(c)} {side} the average",
                f"the {p} whose {c} is {more} than average",
            ],
            [f"{p} {c} {side} average", f"{p} with {c} {side} avg"],
            True,
        )
    assert intent.child is not None
    children = words.table(intent.child)
    if intent.template == "without_matching_children":
        s = _say(words, intent, intent.child, intent.conditions)
        return Forms(
            [f"Which {p} have no {s.nominal}", f"Which {p} do not have any {s.nominal}"],
            [f"the {p} with no {s.nominal}", f"the {p} without any {s.nominal}"],
            [f"{p} without {s.keywords}", f"{p} with no {s.keywords}"],
            True,
        )
    if intent.template == "without_children":
        return Forms(
            [f"Which {p} have no {children}", f"Which {p} do not have any {children}"],
            [
                f"the {p} with no {children}",
                f"the {p} without any {children}",
                f"{p} that have no {children}",
            ],
            [f"{p} without {children}", f"{p} with zero {children}", f"{p} no {children}"],
            True,
        )
    s = _say(words, intent, intent.child, intent.conditions)
    return Forms(
        [
            f"Which {p} have {s.nominal}",
            f"Which {p} have at least one {s.one}",
        ],
        [f"the {p} that have {s.nominal}", f"the {p} with {s.nominal}"],
        [f"{p} with {s.keywords}", f"{p} having {s.keywords}"],
        True,
    )


def _distinct_forms(words: _Words, intent: Intent) -> Forms:
    table, column = intent.shown[0]
    c = plural(words.column(column))
    s = _say(words, intent, intent.table, intent.conditions)
    if table != intent.table:
        role = _role(intent, table)
        return Forms(
            [
                f"Which {role} {c} have {s.nominal}",
                f"What are the distinct {role} {c} of {s.nominal}",
            ],
            [
                f"the distinct {role} {c} of {s.nominal}",
                f"the different {role} {c} among {s.nominal}",
            ],
            [f"distinct {role} {c} {s.keywords}", f"unique {role} {c} for {s.keywords}"],
            True,
        )
    return Forms(
        [
            f"What {c} do {s.nominal} have",
            f"Which {c} appear among {s.nominal}",
            f"What are the distinct {c} of {s.nominal}",
        ],
        [
            f"the distinct {c} of {s.nominal}",
            f"the different {c} among {s.nominal}",
            f"all the {c} of {s.nominal}",
            f"the unique {c} of {s.nominal}",
        ],
        [f"distinct {c} {s.keywords}", f"unique {c} {s.keywords}", f"{s.keywords} {c} list"],
        True,
    )


def _lookup_forms(words: _Words, intent: Intent) -> Forms:
    condition = intent.conditions[0]
    name = _values(words, condition)[0]
    one = words.table(intent.table, "singular")
    if intent.template == "parent":
        role = _role(intent, intent.shown[0][0])
        return Forms(
            [
                f"Which {role} does {name} have",
                f"What is the {role} of {name}",
                f"Which {role} is {name} linked to",
            ],
            [f"the {role} of {name}", f"the {role} of the {one} {name}", f"{name}'s {role}"],
            [f"{name} {role}", f"{role} for {name}", f"{role} of {one} {name}"],
            False,
        )
    columns = [words.column(column) for _, column in intent.shown]
    what = " and ".join(columns)
    verb = "are" if len(columns) > 1 else "is"
    return Forms(
        [
            f"What {verb} the {what} of {name}",
            f"What {verb} the {what} of the {one} {name}",
            f"What's {name}'s {what}",
        ],
        [f"the {what} of {name}", f"the {what} for the {one} {name}", f"{name}'s {what}"],
        [f"{name} {what}", f"{what} of {name}", f"{one} {name} {what}"],
        False,
    )


_FORMS: Mapping[str, Callable[[_Words, Intent], Forms]] = {
    "filter": _rows_forms,
    "multi_filter": _rows_forms,
    "aggregate": _aggregate_forms,
    "group": _group_forms,
    "order_topk": _top_forms,
    "join": _join_forms,
    "subquery": _subquery_forms,
    "distinct": _distinct_forms,
    "lookup": _lookup_forms,
}


# ---------------------------------------------------------------- styles


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() or text[1:2] == " " else text


def _styled(style: str, forms: Forms, words: _Words) -> str:
    pick = words.pick
    rng = words.rng
    question = pick(forms.questions)
    phrase = pick(forms.phrases)
    keyword = pick(forms.keywords)
    front = words.front
    bare_phrase = phrase
    if front:
        lead = f"{front[:1].upper()}{front[1:]}, "
        question = lead + _lower_first(question)
        phrase = f"{phrase} {front}"
    if style == "question":
        return question + "?"
    if style == "command":
        verbs = (
            ("List", "Show me", "Give me", "Display", "Pull up", "Find", "Get")
            if forms.listing
            else ("Tell me", "Give me", "Show me", "Get", "Find", "Calculate", "Report")
        )
        text = f"{pick(verbs)} {phrase}"
        if front and rng.random() < 0.5:
            text = lead + _lower_first(f"{pick(verbs)} {bare_phrase}")
        return text if text.endswith(".") else text + pick((".", ".", ""))
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
                f"Please give me {phrase}" + ("" if phrase.endswith(".") else "."),
                f"Can you please {verb} {phrase}?",
                f"I'd like to know {phrase}, please",
                f"Could you tell me {phrase}, please?",
            )
        )
    return pick((keyword + "?", keyword.lower() + "?", _lower_first(question) + "?"))


def _misspell(text: str, rng: random.Random, keep: Sequence[str]) -> str:
    """``text`` with one word of seven letters or more misspelt.

    A letter is dropped, two are swapped or one is doubled; the values in ``keep`` stay intact.
    """
    kept = " ".join(keep).lower()
    spans = [m for m in re.finditer(r"[A-Za-z]{7,}", text) if m.group().lower() not in kept]
    if not spans:
        return text
    match = rng.choice(spans)
    word = match.group()
    i = rng.randint(1, len(word) - 3)
    edit = rng.choice(("drop", "swap", "double"))
    if edit == "swap" and word[i] == word[i + 1]:
        edit = "drop"
    if edit == "drop":
        wrong = word[:i] + word[i + 1 :]
    elif edit == "swap":
        wrong = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    else:
        wrong = word[:i] + word[i] + word[i:]
    return text[: match.start()] + wrong + text[match.end() :]


def realise(intent: Intent, profile: SchemaProfile, rng: random.Random) -> str:
    """One request for ``intent``, in a style drawn from ``rng``.

    Args:
        intent: What the request asks for.
        profile: The schema, for the words of its names and values.
        rng: The random source; the same state gives the same request.

    Returns:
        The request; it may be longer than :data:`MAX_REQUEST` (the caller drops those).
    """
    words = _Words(profile, rng, lower_values=rng.random() < 0.25)
    forms = _FORMS[intent.family](words, intent)
    text = _styled(rng.choice(STYLES), forms, words)
    text = re.sub(r"\s+", " ", text).strip()
    text = text[:1].upper() + text[1:] if text[:1].islower() and rng.random() < 0.5 else text
    if rng.random() < 0.15:
        text = text.lower()
    if rng.random() < MISSPELL_RATE:
        text = _misspell(text, rng, [*(v for c in intent.conditions for v in c.values), *_MONTHS])
    return text
