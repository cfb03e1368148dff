"""What each system holds, in the words people use: the router's cues, read from live schemas.

The router decides where a request goes from the names the systems themselves carry, not
from a word list written for one domain:

* the SQL database: its table and column names (``order_items`` -> "order items") and the
  values of its low-cardinality text columns ("Germany", "cancelled");
* the Salesforce org: its object names and plural labels, field names and labels
  (``AnnualRevenue`` -> "annual revenue") and picklist values ("Closed Won");
* each system's own name ("database", "salesforce", "crm");
* a small lexicon of words people use for schema names ("deals" -> ``Opportunity``),
  whose entries count only where the live schema has the name they point to, and which a
  user can extend.

:meth:`Cues.systems` says which systems a text names; a cue that two systems share
("industry", "status") decides nothing. A request that names no system at all is outside
every system's scope.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from specialists.bindings import GENERIC_NOUNS
from tools.salesforce_sandbox.schema import describe_object
from tools.sql import SqlDatabase

SYSTEMS: Final = ("sql", "salesforce")
"""The systems whose scope the cues describe."""

SYSTEM_WORDS: Final[Mapping[str, tuple[str, ...]]] = {
    "sql": ("database", "db", "sql", "sql database", "table", "tables"),
    "salesforce": ("salesforce", "sfdc", "soql", "crm", "org"),
}
"""Words that name a system itself."""

LEXICON: Final[Mapping[str, tuple[str, ...]]] = {
    # schema name (table, column, object or field) -> words people use for it
    "orders": ("purchases", "bought", "sales", "ordered"),
    "order_items": ("line items", "items sold", "units sold", "revenue", "sold"),
    "unit_price": ("price", "prices", "priced", "costs", "cost", "expensive", "cheapest"),
    "sales_reps": ("reps", "rep", "representatives", "salespeople", "sales people", "salesperson"),
    "hired_on": ("hired",),
    "customers": ("clients", "client", "buyers"),
    "products": ("catalogue", "catalog"),
    "Opportunity": ("deals", "deal", "pipeline", "opps", "oppty", "opp"),
    "Case": ("tickets", "ticket", "support cases", "complaints"),
    "Lead": ("prospects",),
    "Contact": ("people", "person", "emails", "phone numbers"),
    "StageName": ("stage", "stages", "closed won", "closed lost", "won", "lost"),
    "AnnualRevenue": ("annual revenue", "turnover"),
    "NumberOfEmployees": ("employees", "headcount", "staff"),
}
"""Words for schema names; an entry counts only when the live schema has that name."""

GENERIC: Final = frozenset(
    {
        "id", "name", "names", "type", "types", "date", "dates", "created", "on", "by", "is",
        "of", "number", "description", "first", "last", "title", "to", "at", "in", "new",
        "other", "open", "closed", "high", "low", "medium", "web", "email", "phone", "hot",
        "cold", "warm", "working", "and", "or",
    }
)  # fmt: skip
"""Words too common to say anything alone: a request is not about a system because it says
"name" or "new" (values and name parts that are such words are left out)."""

_WORD = re.compile(r"[a-z0-9]+(?:['.-][a-z0-9]+)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def words_of(name: str) -> str:
    """A schema name as words: ``order_items`` -> "order items", ``StageName`` -> "stage name"."""
    parts: list[str] = []
    for chunk in re.split(r"[_\W]+", name):
        parts += [part.lower() for part in _CAMEL.findall(chunk)]
    return " ".join(parts)


def _forms(phrase: str) -> set[str]:
    """``phrase`` with its last word in the singular and the plural."""
    head, _, last = phrase.rpartition(" ")
    lead = head + " " if head else ""
    forms = {phrase}
    if last.endswith("ies") and len(last) > 4:
        forms.add(lead + last[:-3] + "y")
    elif last.endswith(("ses", "xes", "ches", "shes")):
        forms.add(lead + last[:-2])
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        forms.add(lead + last[:-1])
    if last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
        forms.add(lead + last[:-1] + "ies")
    elif last.endswith(("s", "x", "ch", "sh")):
        forms.add(lead + last + "es")
    else:
        forms.add(lead + last + "s")
    return forms


def _useful(phrase: str) -> bool:
    return bool(phrase) and phrase not in GENERIC and len(phrase) >= 2


@dataclass
class Cues:
    """The cue phrases of each system, and which systems a text names."""

    phrases: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in SYSTEMS})
    unknown: set[str] = field(default_factory=set)
    """Systems whose schema could not be read: a text that names no other system is taken
    to be about such a system (whose sub-task then says why it is unavailable)."""

    def add(self, system: str, phrases: Iterable[str]) -> None:
        """Add cue phrases (any case) to ``system``."""
        for phrase in phrases:
            cleaned = " ".join(_WORD.findall(phrase.lower()))
            if _useful(cleaned):
                self.phrases[system].add(cleaned)

    def named(self, text: str) -> dict[str, set[str]]:
        """For each system, the cue phrases that ``text`` contains.

        A word of six letters or more still counts when misspelt by about one letter.
        """
        tokens = _WORD.findall(text.lower())
        joined = " " + " ".join(tokens) + " "
        found: dict[str, set[str]] = {name: set() for name in SYSTEMS}
        long_tokens = [token for token in tokens if len(token) >= 6]
        for system, phrases in self.phrases.items():
            for phrase in phrases:
                if f" {phrase} " in joined:
                    found[system].add(phrase)
                elif " " not in phrase and len(phrase) >= 6 and _near(phrase, long_tokens):
                    found[system].add(phrase)
        # The longest phrase wins: "Customer - Direct" (an account type) is no mention of
        # the database's customers.
        every = {phrase for phrases in found.values() for phrase in phrases if " " in phrase}
        for system in found:
            found[system] = {
                phrase
                for phrase in found[system]
                if not any(
                    len(other.split()) > len(phrase.split()) and f" {form} " in f" {other} "
                    for other in every
                    for form in _forms(phrase)
                )
            }
        return found

    def systems(self, text: str) -> list[str]:
        """The systems ``text`` names by a cue that no other system shares.

        A system whose schema is unknown may hold anything, so it is named as well unless
        the text names a system by that system's own name ("in Salesforce"): "how many
        orders" with the database unreadable could be about the database's orders or the
        org's, and the rules leave that to the model.
        """
        found = self.named(text)
        named = [
            system
            for system in SYSTEMS
            if any(
                not any(phrase in self.phrases[other] for other in SYSTEMS if other != system)
                for phrase in found[system]
            )
        ]
        if not self.unknown:
            return named
        by_own_name = [system for system in named if found[system] & set(SYSTEM_WORDS[system])]
        if by_own_name:
            return by_own_name
        return [system for system in SYSTEMS if system in named or system in self.unknown]

    def names_thing(self, word: str) -> bool:
        """Whether ``word`` names a thing a result can hold ("customer", "deals", "record").

        Used for references back to a result ("that customer", not "that are"): schema and
        lexicon words of any system, and :data:`specialists.bindings.GENERIC_NOUNS`.
        """
        lowered = word.lower()
        if lowered in GENERIC_NOUNS:
            return True
        return any(
            lowered in phrases or _forms(lowered) & phrases for phrases in self.phrases.values()
        )

    def any_named(self, text: str) -> bool:
        """Whether ``text`` names anything any system holds (a shared cue counts).

        Always true while a system's schema is unknown.
        """
        return bool(self.unknown) or any(self.named(text).values())


def _near(phrase: str, tokens: Sequence[str]) -> bool:
    return any(
        abs(len(token) - len(phrase)) <= 1
        and token[0] == phrase[0]
        and difflib.SequenceMatcher(None, token, phrase).ratio() >= 0.85
        for token in tokens
    )


def _lexicon_words(names: set[str], lexicon: Mapping[str, Sequence[str]]) -> Iterable[str]:
    lowered = {name.lower() for name in names}
    for name, words in lexicon.items():
        if name.lower() in lowered:
            yield from words


def build_cues(
    *,
    tables: Mapping[str, Sequence[str]] | None = None,
    values: Mapping[tuple[str, str], Sequence[str]] | None = None,
    describes: Mapping[str, Mapping[str, Any]] | None = None,
    lexicon: Mapping[str, Sequence[str]] = LEXICON,
) -> Cues:
    """The cues of a database and of an org.

    ``tables`` maps each table to its columns, ``values`` the low-cardinality text columns
    to their values, ``describes`` each object to its describe().

    A system given as None (its schema could not be read) has only its own name as a cue
    and is marked unknown; give an empty mapping for a system that is not there at all.
    """
    cues = Cues()
    cues.unknown = {
        system for system, known in (("sql", tables), ("salesforce", describes)) if known is None
    }
    for system in SYSTEMS:
        cues.add(system, SYSTEM_WORDS[system])
    if tables:
        names: set[str] = set(tables)
        for table, columns in tables.items():
            cues.add("sql", _forms(words_of(table)))
            for column in columns:
                names.add(column)
                if not column.lower().endswith("_id") and column.lower() != "id":
                    cues.add("sql", _forms(words_of(column)))
        for texts in (values or {}).values():
            cues.add("sql", (text for text in texts if len(text) >= 3))
        for word in _lexicon_words(names, lexicon):
            cues.add("sql", _forms(word))
    if describes:
        names = set(describes)
        for sobject, describe in describes.items():
            cues.add("salesforce", _forms(words_of(sobject)))
            cues.add("salesforce", [str(describe.get("labelPlural") or "")])
            for spec in describe.get("fields", []):
                name = str(spec.get("name", ""))
                names.add(name)
                if spec.get("type") in ("id", "reference"):
                    continue
                cues.add("salesforce", _forms(words_of(name)))
                cues.add("salesforce", [str(spec.get("label") or "")])
                for option in spec.get("picklistValues") or []:
                    value = str(option.get("value", ""))
                    if len(value) >= 3:
                        cues.add("salesforce", [value])
        for word in _lexicon_words(names, lexicon):
            cues.add("salesforce", _forms(word))
    return cues


def standard_describes(names: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """The describe() of standard objects as the offline sandbox org gives them."""
    found = {name: describe_object(name) for name in names}
    return {name: described for name, described in found.items() if described is not None}


def cues_of(database: SqlDatabase | None, describes: Mapping[str, Mapping[str, Any]]) -> Cues:
    """The cues of an open database (None: it could not be opened) and an org's describes."""
    if database is None:
        return build_cues(tables=None, values=None, describes=describes)
    tables = {name: [c.name for c in columns] for name, columns in database.tables().items()}
    return build_cues(tables=tables, values=database.text_values(), describes=describes)
