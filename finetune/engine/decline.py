"""Requests the database cannot answer, for teaching the SQL specialist to decline.

The SQL specialist answers a request that names nothing its database holds with
:data:`tools.sql_grammar.DECLINE` instead of a query (no query is run, and the answer says
so). Its training examples of that come from three kinds of request, all checked against
the live schema's own cues (:func:`specialists.scope.cues_of`):

* everyday requests outside any database ("What's the weather in Paris tomorrow?");
* records a CRM holds but this database does not ("How many open leads are there?"),
  kept only when the database names none of the words;
* an attribute a table lacks ("What is the salary of each sales rep?"): a table's words
  with an attribute that none of its columns carries.

A request is kept only when the schema's cues find nothing in it beyond the table it names
(for the third kind), so a database that does hold salaries gets no "salary" declines.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from specialists.scope import Cues, build_cues, words_of
from tools.sql import SqlDatabase
from tools.sql_grammar import DECLINE

EVERYDAY: tuple[str, ...] = (
    "What's the weather in {city} tomorrow?",
    "weather forecast {city} this weekend",
    "Book me a flight to {city} next Friday.",
    "Find me a hotel in {city} for two nights",
    "What time is it in {city} right now?",
    "Translate 'good morning' into {language}.",
    "how do you say thank you in {language}",
    "Tell me a joke about {topic}.",
    "Write a short poem about {topic}",
    "What is the capital of {country}?",
    "Who won the last football world cup?",
    "What's the current price of {ticker} stock?",
    "{ticker} share price today",
    "Convert 100 US dollars to euros.",
    "How many calories are in a banana?",
    "Give me a recipe for {dish}.",
    "What is the square root of 1764?",
    "Set a reminder to call the dentist at 3pm.",
    "Play some music by {artist}.",
    "What's the population of {country}?",
    "Who is the president of {country}?",
    "Recommend a good book about {topic}.",
    "what movies are on tonight",
    "Explain how photosynthesis works.",
    "What's the traffic like on the way to {city}?",
)
"""Requests no database answers (filled from the pools below)."""

_FILL = {
    "city": ("Paris", "Lisbon", "Tokyo", "Berlin", "Nairobi", "Toronto", "Madrid", "Oslo"),
    "language": ("French", "Spanish", "German", "Japanese", "Italian"),
    "topic": ("cats", "the sea", "autumn", "programming", "coffee", "mountains"),
    "country": ("Canada", "Kenya", "Peru", "Norway", "Vietnam", "Portugal"),
    "ticker": ("AAPL", "MSFT", "TSLA", "NVDA"),
    "dish": ("lasagne", "pancakes", "ramen", "paella"),
    "artist": ("Miles Davis", "Adele", "the Beatles"),
}

ELSEWHERE: tuple[str, ...] = (
    "How many open leads are there?",
    "List the leads from the web source.",
    "Which opportunities are in the negotiation stage?",
    "total amount of open opportunities",
    "Show me the support cases with high priority.",
    "How many cases were escalated this week?",
    "List the contacts at {name}.",
    "what's the email of the contact at {name}",
    "Which campaigns ran last quarter?",
    "Create a new lead for Jane Doe at Initrode.",
    "Close the case about the broken login.",
    "Show the tasks assigned to me today.",
    "Which deals closed won this month?",
    "How many meetings are on my calendar tomorrow?",
)
"""Requests about records a CRM or a calendar holds (kept when the database names none)."""

ATTRIBUTES: tuple[tuple[str, bool], ...] = (
    ("salary", True), ("date of birth", False), ("birthday", False), ("age", True),
    ("favourite colour", False), ("shoe size", True), ("home address", False),
    ("passport number", False), ("blood type", False), ("hair colour", False),
    ("star rating", True), ("weight in kilograms", True), ("tax id", False),
    ("linkedin profile", False), ("middle name", False),
)  # fmt: skip
"""Attributes a table may lack (and whether they are numbers); one is used only where no
column of the table carries it."""

_ATTRIBUTE_FORMS: tuple[tuple[str, bool], ...] = (
    ("What is the {attribute} of each {thing}?", False),
    ("List the {things} with their {attribute}.", False),
    ("show {thing} {attribute}", False),
    ("Could you give me the {attribute} for every {thing}, please?", False),
    ("Which {thing} has the highest {attribute}?", True),
    ("average {attribute} of the {things}?", True),
)
"""Forms of an attribute request; the second field: only for an attribute that is a number."""


def _fill(template: str, rng: random.Random, names: Sequence[str]) -> str:
    values = {key: rng.choice(pool) for key, pool in _FILL.items()}
    values["name"] = rng.choice(names) if names else "Initrode"
    return template.format(**values)


def _sql_cues(cues: Cues, text: str) -> set[str]:
    return cues.named(text)["sql"]


def decline_requests(
    database: SqlDatabase, rng: random.Random, count: int, *, names: Sequence[str] = ()
) -> list[str]:
    """Up to ``count`` distinct requests that ``database`` holds nothing to answer.

    ``names`` are names to put in a request about records the database lacks (e.g. the
    names of its own customers, which keeps such requests close to real ones).
    """
    tables = {table: [c.name for c in columns] for table, columns in database.tables().items()}
    cues = build_cues(tables=tables, values=database.text_values(), describes={})
    found: list[str] = []
    seen: set[str] = set()

    def keep(text: str, allowed: frozenset[str] | set[str] = frozenset()) -> None:
        if text not in seen and _sql_cues(cues, text) <= allowed:
            seen.add(text)
            found.append(text)

    attempts = 0
    while len(found) < count and attempts < count * 20:
        attempts += 1
        kind = rng.random()
        if kind < 0.4:
            keep(_fill(rng.choice(EVERYDAY), rng, names))
        elif kind < 0.6:
            keep(_fill(rng.choice(ELSEWHERE), rng, names))
        else:
            table = rng.choice(sorted(tables))
            thing = words_of(table)
            singular = thing[:-1] if thing.endswith("s") and not thing.endswith("ss") else thing
            attribute, numeric = rng.choice(ATTRIBUTES)
            columns = " ".join(words_of(c) for c in tables[table])
            if any(word in columns.split() for word in attribute.split()):
                continue
            forms = [form for form, needs_number in _ATTRIBUTE_FORMS if numeric or not needs_number]
            text = rng.choice(forms).format(attribute=attribute, thing=singular, things=thing)
            keep(text, _sql_cues(cues, thing) | _sql_cues(cues, singular))
    return found


def decline_records(
    database: SqlDatabase,
    rng: random.Random,
    count: int,
    *,
    names: Sequence[str] = (),
    prefix: str = "sql-decline",
) -> list[dict[str, object]]:
    """Training records (the SQL dataset's fields) whose target is :data:`DECLINE`."""
    return [
        {
            "id": f"{prefix}-{number:05d}",
            "specialist": "sql",
            "family": "decline",
            "template": "-",
            "entity": "-",
            "request": text,
            "target": DECLINE,
            "gold_columns": [],
            "gold_rows": [],
        }
        for number, text in enumerate(decline_requests(database, rng, count, names=names))
    ]
