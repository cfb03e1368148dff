"""Composing intents from an org's profile, one family at a time, with real fields and values.

:class:`Composer` draws one intent of a family (a query, a get, a write or a describe) with
its action; :func:`compose` draws many, spread over the families by weight.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel

from finetune.engine.__main__ import GIVE_UP_AFTER
from finetune.engine.salesforce.intents import (
    FAMILIES,
    Condition,
    Intent,
    Meaning,
    _next_family,
    target_of,
)
from finetune.engine.salesforce.profile import (
    _NUMBER_TYPES,
    _TEXT_TYPES,
    FieldProfile,
    ObjectProfile,
    OrgProfile,
    _writable,
    obj_name_fields,
)
from tools.salesforce import (
    ActionRequest,
    CreateAction,
    DeleteAction,
    DescribeAction,
    GetAction,
    QueryAction,
    UpdateAction,
)

TOP_K: Final = (1, 3, 5, 10)
"""The sizes of a top-k."""

_WRITABLE_TYPES: Final = _NUMBER_TYPES | _TEXT_TYPES | {"picklist", "reference", "date"}
_WORD_RE: Final = re.compile(r"[A-Za-z]{4,}")

_PAST_LITERALS: Final = (
    "TODAY", "YESTERDAY", "THIS_WEEK", "LAST_WEEK", "THIS_MONTH", "LAST_MONTH",
    "THIS_QUARTER", "LAST_QUARTER", "THIS_YEAR", "LAST_YEAR", "LAST_N_DAYS:7",
    "LAST_N_DAYS:14", "LAST_N_DAYS:30", "LAST_N_DAYS:60", "LAST_N_DAYS:90",
    "LAST_N_MONTHS:3", "LAST_N_MONTHS:6", "LAST_N_MONTHS:12",
)  # fmt: skip
_FUTURE_LITERALS: Final = (
    "TOMORROW", "NEXT_WEEK", "NEXT_MONTH", "NEXT_QUARTER", "NEXT_YEAR", "NEXT_N_DAYS:7",
    "NEXT_N_DAYS:30", "NEXT_N_DAYS:60", "NEXT_N_DAYS:90", "NEXT_N_MONTHS:3",
    "NEXT_N_MONTHS:6",
)  # fmt: skip


def _round(value: float) -> int:
    """A round number at or below ``value``: 208000 -> 200000, 47 -> 40, 7 -> 7."""
    if value < 10:
        return max(1, int(value))
    magnitude = 10 ** int(math.floor(math.log10(value)))
    step = magnitude // 2 if value / magnitude < 3 else magnitude
    return int(value // step * step)


class Composer:
    """Draws intents of one family at a time from an :class:`OrgProfile`.

    Args:
        profile: The org.
        rng: The random source; the same state gives the same intents.
        taken: Targets already used (see :func:`target_of`); a family with few intents
            (describe: one per object) draws only among those not taken.
    """

    def __init__(
        self, profile: OrgProfile, rng: random.Random, taken: set[str] | None = None
    ) -> None:
        self.profile = profile
        self.rng = rng
        self.taken = taken if taken is not None else set()
        self._draw: Mapping[str, Callable[[ObjectProfile], Intent | None]] = {
            "list": self._list,
            "count": self._count,
            "aggregate": self._aggregate,
            "group": self._group,
            "top": self._top,
            "parent": self._parent,
            "lookup": self._lookup,
            "get": self._get,
            "create": self._create,
            "update": self._update,
            "delete": self._delete,
            "describe": self._describe,
        }

    def compose(self, family: str) -> Intent | None:
        """One intent of ``family`` on an object drawn at random; None if this draw fails."""
        objects = [o for o in self.profile.objects.values() if o.records]
        if family == "describe":
            objects = [
                o
                for o in self.profile.objects.values()
                if target_of(DescribeAction(action="describe", sobject=o.name)) not in self.taken
            ]
        if not objects:
            return None
        return self._draw[family](self.rng.choice(objects))

    # -- conditions --------------------------------------------------------------------

    def _slots(self, obj: ObjectProfile, *, parents: bool = True) -> list[tuple[float, str, str]]:
        """``(weight, path, kind of filter)`` for every field a filter can use."""
        slots: list[tuple[float, str, str]] = []
        for spec in obj.fields.values():
            if not spec.filterable or spec.name == "Id" or not spec.filled:
                continue
            if spec.is_category:
                slots.append((3.0 if spec.type == "picklist" else 1.5, spec.name, "category"))
            elif spec.is_number and len(spec.values) > 1:
                slots.append((1.5, spec.name, "number"))
            elif spec.is_date:
                slots.append((2.0, spec.name, "date"))
            elif spec.type == "boolean":
                slots.append((0.6, spec.name, "boolean"))
            elif spec.type == "reference" and spec.relationship in obj.parents:
                slots.append((0.5, spec.name, "ref"))
            if (
                spec.type in ("string", "email")
                and spec.values
                and not spec.is_category
                and spec.name not in ("FirstName", "LastName")
            ):
                slots.append((0.8, spec.name, "text"))
            if spec.nillable and spec.nulls and spec.type != "boolean":
                slots.append((0.5, spec.name, "null"))
        if parents:
            for path, spec in obj.paths.items():
                if spec.values and (spec.is_category or spec.name in ("Name",)):
                    slots.append((0.6, path, "parent"))
        return slots

    def _conditions(
        self, obj: ObjectProfile, count: int, *, parents: bool = True, used: Sequence[str] = ()
    ) -> tuple[tuple[Condition, ...], tuple[Condition, Condition] | None]:
        """Up to ``count`` filters on distinct fields, two of them maybe joined by OR."""
        slots = [s for s in self._slots(obj, parents=parents) if s[1] not in used]
        chosen: list[Condition] = []
        paths: set[str] = set(used)
        for _ in range(count * 3):
            if len(chosen) == count or not slots:
                break
            weight, path, kind = self.rng.choices(slots, weights=[s[0] for s in slots])[0]
            slots = [s for s in slots if s[1] != path]
            if path in paths:
                continue
            condition = self._condition(obj, path, kind)
            if condition is not None:
                chosen.append(condition)
                paths.add(path)
        either: tuple[Condition, Condition] | None = None
        pairable = [c for c in chosen if c.kind not in ("between", "in", "not_in", "ne")]
        if len(pairable) >= 2 and self.rng.random() < 0.25:
            a, b = pairable[-2:]
            either = (a, b)
            chosen = [c for c in chosen if c not in either]
        return tuple(chosen), either

    def _condition(self, obj: ObjectProfile, path: str, kind: str) -> Condition | None:
        spec = obj.spec(path)
        rng = self.rng
        values = list(spec.values)
        if kind in ("category", "parent"):
            texts = [v for v in values if isinstance(v, str) and _writable(v)]
            if spec.type == "picklist":
                texts = [v for v in texts if v.lower() in {p.lower() for p in spec.picklist}]
            if not texts:
                return None
            if kind == "parent" and not spec.is_category:
                return Condition("eq", path, spec.type, (rng.choice(texts),))
            roll = rng.random()
            if len(texts) >= 3 and roll < 0.2:
                return Condition(
                    "in", path, spec.type, tuple(rng.sample(texts, rng.choice((2, 3))))
                )
            if len(texts) >= 3 and roll < 0.3:
                return Condition("not_in", path, spec.type, tuple(rng.sample(texts, 2)))
            if roll < 0.35:
                return Condition("ne", path, spec.type, (rng.choice(texts),))
            return Condition("eq", path, spec.type, (rng.choice(texts),))
        if kind == "number":
            numbers = sorted(float(v) for v in values if isinstance(v, int | float) and v > 0)
            if len(numbers) < 2:
                return None
            low = _round(numbers[int(len(numbers) * rng.uniform(0.1, 0.45))])
            high = _round(numbers[int(len(numbers) * rng.uniform(0.55, 0.9))])
            roll = rng.random()
            if roll < 0.2 and low < high:
                return Condition("between", path, spec.type, (low, high))
            return Condition(
                "gt" if roll < 0.65 else "lt", path, spec.type, (high if roll < 0.45 else low,)
            )
        if kind == "date":
            days = sorted(str(v)[:10] for v in values if isinstance(v, str))
            if not days:
                return None
            roll = rng.random()
            if roll < 0.5:
                literals = list(_PAST_LITERALS)
                if self.profile.today is None or days[-1] > self.profile.today.isoformat():
                    literals += _FUTURE_LITERALS
                return Condition("literal", path, spec.type, (rng.choice(literals),))
            day = rng.choice(days)
            if roll < 0.65:
                return Condition("year", path, spec.type, (int(day[:4]),))
            first = f"{day[:7]}-01"
            return Condition("since" if roll < 0.85 else "before", path, spec.type, (first,))
        if kind == "boolean":
            return Condition(rng.choice(("true", "false")), path, spec.type)
        if kind == "null":
            return Condition("null" if rng.random() < 0.6 else "notnull", path, spec.type)
        if kind == "ref":
            ids = [v for v in values if isinstance(v, str)]
            return Condition("ref", path, spec.type, (rng.choice(ids),)) if ids else None
        if kind == "text":
            texts = [v for v in values if isinstance(v, str)]
            if spec.type == "email":
                domains = sorted({t.rpartition("@")[2] for t in texts if "@" in t})
                domains = [d for d in domains if _writable(d)]
                return (
                    Condition("suffix", path, spec.type, ("@" + rng.choice(domains),))
                    if domains
                    else None
                )
            words = [w for t in texts for w in _WORD_RE.findall(t)]
            if not words:
                return None
            if rng.random() < 0.5:
                firsts = [
                    t.split()[0] for t in texts if t.split() and _WORD_RE.fullmatch(t.split()[0])
                ]
                if firsts:
                    return Condition("prefix", path, spec.type, (rng.choice(firsts),))
            return Condition("contains", path, spec.type, (rng.choice(words).lower(),))
        return None

    def _filters(self, weights: Sequence[float]) -> int:
        return self.rng.choices(range(len(weights)), weights=weights)[0]

    # -- queries -----------------------------------------------------------------------

    def _where(
        self, conditions: Sequence[Condition], either: tuple[Condition, Condition] | None
    ) -> str:
        parts = [c.soql() for c in conditions]
        if either is not None:
            pair = f"{either[0].soql()} OR {either[1].soql()}"
            parts.append(f"({pair})" if parts else pair)
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    def _intent(self, meaning: Meaning, action: BaseModel, extra: Sequence[str] = ()) -> Intent:
        parts = [c.entity for c in meaning.conditions]
        if meaning.either is not None:
            parts.append(" or ".join(c.entity for c in meaning.either))
        if meaning.record_id:
            parts.insert(0, f"record={meaning.record_id}")
        parts += [f"{name}={value}" for name, value in meaning.values]
        parts += extra
        dumped = ActionRequest.model_validate({"action": action}).model_dump(mode="json")
        return Intent(
            family=meaning.family,
            entity=" | ".join(parts) if parts else "-",
            action=dumped["action"],
            meaning=meaning,
        )

    def _shown(self, obj: ObjectProfile, most: int) -> tuple[str, ...]:
        """Up to ``most`` fields beyond the listing's own for a request to ask to see."""
        options = [
            f.name
            for f in obj.fields.values()
            if f.filled
            and f.name not in obj.display
            and f.type not in ("id", "reference", "boolean")
            and f.name not in obj.name_fields
        ]
        options += [p for p, f in obj.paths.items() if f.name in ("Name",) and f.filled]
        count = self._filters([0.5, 0.35, 0.15][: most + 1])
        return tuple(self.rng.sample(options, min(count, len(options))))

    def _list(self, obj: ObjectProfile) -> Intent | None:
        conditions, either = self._conditions(obj, self._filters([0.05, 0.45, 0.35, 0.15]))
        asked = self._shown(obj, 2)
        fields = obj.display + tuple(f for f in asked if f not in obj.display)
        soql = f"SELECT {', '.join(fields)} FROM {obj.name}{self._where(conditions, either)}"
        meaning = Meaning("list", "rows", obj.name, conditions, either, fields=asked)
        return self._intent(meaning, QueryAction(soql=soql))

    def _count(self, obj: ObjectProfile) -> Intent | None:
        conditions, either = self._conditions(obj, self._filters([0.1, 0.45, 0.3, 0.15]))
        soql = f"SELECT COUNT() FROM {obj.name}{self._where(conditions, either)}"
        meaning = Meaning("count", "count", obj.name, conditions, either)
        return self._intent(meaning, QueryAction(soql=soql))

    def _measures(self, obj: ObjectProfile) -> list[str]:
        return [
            f.name
            for f in obj.fields.values()
            if f.is_number and f.aggregatable and len(f.values) > 1
        ]

    def _aggregate(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        numbers = self._measures(obj)
        dates = [f.name for f in obj.fields.values() if f.is_date and f.aggregatable and f.filled]
        categories = [
            f.name for f in obj.fields.values() if f.is_category and f.aggregatable and f.groupable
        ]
        roll = rng.random()
        if roll < 0.65 and numbers:
            function, path = rng.choice(("SUM", "SUM", "AVG", "MIN", "MAX")), rng.choice(numbers)
        elif roll < 0.85 and dates:
            function, path = rng.choice(("MIN", "MAX")), rng.choice(dates)
        elif categories:
            function, path = "COUNT_DISTINCT", rng.choice(categories)
        else:
            return None
        conditions, either = self._conditions(obj, self._filters([0.25, 0.5, 0.25]), used=(path,))
        soql = f"SELECT {function}({path}) FROM {obj.name}{self._where(conditions, either)}"
        meaning = Meaning(
            "aggregate", function.lower(), obj.name, conditions, either, measure=(function, path)
        )
        return self._intent(meaning, QueryAction(soql=soql), (f"measure={function}({path})",))

    def _group(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        keys = [f.name for f in obj.fields.values() if f.is_category and f.groupable]
        keys += [p for p, f in obj.paths.items() if f.is_category and f.groupable]
        dates = [f.name for f in obj.fields.values() if f.is_date and f.filled]
        numbers = self._measures(obj)
        year = bool(dates) and rng.random() < 0.15
        if not keys and not year:
            return None
        key = rng.choice(dates) if year else rng.choice(keys)
        grouped = f"CALENDAR_YEAR({key})" if year else key
        if numbers and rng.random() < 0.4:
            function, measured = rng.choice(("SUM", "SUM", "AVG", "MAX")), rng.choice(numbers)
        else:
            function, measured = "COUNT", "Id"
        measure = f"{function}({measured})"
        conditions, either = self._conditions(obj, self._filters([0.55, 0.4, 0.05]), used=(key,))
        soql = f"SELECT {grouped}, {measure} FROM {obj.name}{self._where(conditions, either)}"
        soql += f" GROUP BY {grouped}"
        variant, having, limit = "year" if year else "plain", None, None
        roll = rng.random()
        if not year and function == "COUNT" and roll < 0.25:
            sizes = Counter(r.get(key) for r in obj.records if r.get(key) is not None)
            if len(sizes) < 2:
                return None
            ranked = sorted(sizes.values(), reverse=True)
            having = _round(max(1, ranked[rng.randrange(min(3, len(ranked)))] - 1))
            soql += f" HAVING COUNT(Id) > {having}"
            variant = "having"
        elif not year and roll < 0.5:
            limit = rng.choice(TOP_K)
            soql += f" ORDER BY {measure} DESC LIMIT {limit}"
            variant = "top"
        meaning = Meaning(
            "group",
            variant,
            obj.name,
            conditions,
            either,
            measure=(function, measured),
            group=key,
            having=having,
            limit=limit,
        )
        extra = [f"group={grouped}", f"measure={measure}"]
        extra += [f"having={having}"] if having is not None else []
        extra += [f"k={limit}"] if limit is not None else []
        return self._intent(meaning, QueryAction(soql=soql), extra)

    def _top(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        ranked = [
            f.name
            for f in obj.fields.values()
            if (f.is_number or f.is_date) and f.sortable and len(f.values) > 1
        ]
        names = [n for n in obj.name_fields if obj.fields[n].sortable]
        alphabetical = bool(names) and rng.random() < 0.15
        if not ranked and not alphabetical:
            return None
        path = names[-1] if alphabetical else rng.choice(ranked)
        direction = "ASC" if alphabetical or rng.random() < 0.3 else "DESC"
        limit = rng.choice((5, 10, 20) if alphabetical else TOP_K)
        conditions, either = self._conditions(obj, self._filters([0.4, 0.45, 0.15]), used=(path,))
        fields = obj.display + ((path,) if path not in obj.display else ())
        nulls = " NULLS LAST" if obj.fields[path].nulls else ""
        soql = (
            f"SELECT {', '.join(fields)} FROM {obj.name}{self._where(conditions, either)}"
            f" ORDER BY {path} {direction}{nulls} LIMIT {limit}"
        )
        meaning = Meaning(
            "top",
            "alphabetical" if alphabetical else "ranked",
            obj.name,
            conditions,
            either,
            order=(path, direction),
            limit=limit,
        )
        return self._intent(
            meaning, QueryAction(soql=soql), (f"order={path} {direction}", f"k={limit}")
        )

    def _parent(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        if not obj.parents:
            return None
        relationship = rng.choice(list(obj.parents))
        reference, parent_name = obj.parents[relationship]
        parent = self.profile.objects[parent_name]
        roll = rng.random()
        forced: Condition | None = None
        shown: tuple[str, ...] = ()
        named = [f"{relationship}.{n}" for n in parent.name_fields]
        if roll < 0.3 and len(named) == 1 and named[0] in obj.paths:
            forced = self._condition(obj, named[0], "parent")
            variant = "by_parent_name"
        elif roll < 0.5:
            forced = self._condition(obj, reference, "ref")
            variant = "by_parent_id"
        elif roll < 0.8:
            paths = [
                p
                for p in obj.paths
                if p.startswith(f"{relationship}.") and obj.paths[p].is_category
            ]
            forced = self._condition(obj, rng.choice(paths), "parent") if paths else None
            variant = "by_parent_field"
        else:
            shown = tuple(p for p in named if p in obj.paths)
            shown = shown if len(shown) == len(named) else ()
            variant = "with_parent"
        if forced is None and not shown:
            return None
        used = (forced.path,) if forced else ()
        extra, either = self._conditions(
            obj, self._filters([0.6, 0.4] if forced else [0.1, 0.6, 0.3]), parents=False, used=used
        )
        conditions = ((forced,) if forced else ()) + extra
        fields = obj.display + tuple(f for f in shown if f not in obj.display)
        soql = f"SELECT {', '.join(fields)} FROM {obj.name}{self._where(conditions, either)}"
        meaning = Meaning("parent", variant, obj.name, conditions, either, fields=shown)
        return self._intent(meaning, QueryAction(soql=soql))

    def _lookup(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        names = obj.name_fields
        if names not in (("Name",), ("FirstName", "LastName")):
            return None
        if not all(obj.fields[n].filterable for n in names):
            return None
        record = rng.choice(obj.records)
        name = obj.record_name(record)
        if name is None or sum(obj.record_name(r) == name for r in obj.records) > 1:
            return None
        options = [
            f.name
            for f in obj.fields.values()
            if f.name not in names
            and f.type not in ("id", "reference")
            and record.get(f.name) is not None
        ]
        options += [
            p for p, f in obj.paths.items() if f.name == "Name" and record.get(p) is not None
        ]
        if not options:
            return None
        asked = tuple(rng.sample(options, min(len(options), self._filters([0, 0.6, 0.3, 0.1]))))
        conditions = tuple(Condition("eq", n, obj.fields[n].type, (str(record[n]),)) for n in names)
        soql = f"SELECT {', '.join(asked)} FROM {obj.name}{self._where(conditions, None)}"
        meaning = Meaning("lookup", "by_name", obj.name, conditions, fields=asked, record_name=name)
        return self._intent(meaning, QueryAction(soql=soql))

    # -- records -----------------------------------------------------------------------

    def _get(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        record = rng.choice(obj.records)
        options = [f.name for f in obj.fields.values() if f.type not in ("id", "reference")]
        options += [
            p
            for p, f in obj.paths.items()
            if obj_name_fields(self.profile, f.owner) == ("Name",) and f.name == "Name"
        ]
        count = self._filters([0.12, 0.45, 0.3, 0.13])
        fields = tuple(rng.sample(options, min(count, len(options))))
        ordered = tuple(f for f in [*obj.fields, *obj.paths] if f in fields)
        record_id = str(record["Id"])
        meaning = Meaning(
            "get", "all" if not fields else "fields", obj.name, fields=ordered, record_id=record_id
        )
        action = GetAction(
            action="get", sobject=obj.name, record_id=record_id, fields=list(ordered)
        )
        return self._intent(meaning, action, [f"fields={','.join(ordered) or '*'}"])

    def _value(
        self,
        obj: ObjectProfile,
        spec: FieldProfile,
        current: Any = None,
        values: Mapping[str, Any] | None = None,
    ) -> Any:
        """A value for ``spec`` in a write: real, typed, and not the record's current one.

        An e-mail address is made of the first and last name in ``values`` where it has them.
        """
        rng = self.rng
        if spec.type == "picklist":
            options = [v for v in spec.picklist if v != current and _writable(v)]
            return rng.choice(options) if options else None
        if spec.type == "reference":
            if spec.relationship not in obj.parents:
                return None
            parent = self.profile.objects[obj.parents[spec.relationship][1]]
            ids = [i for i in parent.ids if i != current]
            return rng.choice(ids) if ids else None
        texts = [v for v in spec.values if isinstance(v, str) and v != current and _writable(v)]
        if spec.is_number:
            numbers = [float(v) for v in spec.values if isinstance(v, int | float) and v > 0]
            if not numbers:
                return None
            value = _round(rng.choice(numbers) * rng.choice((0.5, 0.8, 1.0, 1.2, 1.5)))
            if spec.type == "percent":
                value = min(100, max(0, round(value, -1)))
            limit = 10 ** (spec.digits or (spec.precision - spec.scale) or 18)
            return value if value != current and value < limit else None
        if spec.type == "date":
            days = [str(v)[:10] for v in spec.values if isinstance(v, str)]
            if not days:
                return None
            day = dt.date.fromisoformat(rng.choice(days))
            day = day.replace(day=rng.choice((1, 15, 28)))
            return day.isoformat() if day.isoformat() != current else None
        if spec.type == "email":
            first, last = self._person(obj)
            first = str((values or {}).get("FirstName") or first)
            last = str((values or {}).get("LastName") or last)
            domains = [t.rpartition("@")[2] for t in texts if "@" in t]
            if not domains:
                return None
            address = f"{first}.{last}@{rng.choice(domains)}".lower().replace(" ", "")
            return address if _writable(address) and len(address) <= (spec.length or 80) else None
        if not texts:
            return None
        if spec.name in obj.name_fields and spec.name == "Name" and rng.random() < 0.7:
            a, b = rng.sample(texts, 2) if len(texts) > 1 else (texts[0], texts[0])
            wa, wb = a.split(), b.split()
            if len(wa) > 1 and len(wb) > 1:
                cut = rng.randrange(1, len(wa))
                mixed = " ".join(wa[:cut] + wb[min(cut, len(wb) - 1) :])
                if _writable(mixed) and mixed not in spec.values:
                    return mixed
        text = rng.choice(texts)
        return text if not spec.length or len(text) <= spec.length else None

    def _person(self, obj: ObjectProfile) -> tuple[str, str]:
        firsts = [v for v in self._texts(obj, "FirstName")] or ["alex"]
        lasts = [v for v in self._texts(obj, "LastName")] or ["smith"]
        return self.rng.choice(firsts), self.rng.choice(lasts)

    @staticmethod
    def _texts(obj: ObjectProfile, name: str) -> list[str]:
        spec = obj.fields.get(name)
        return [v for v in (spec.values if spec else ()) if isinstance(v, str) and _writable(v)]

    def _create(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        if not obj.createable:
            return None
        settable = [f for f in obj.fields.values() if f.createable and f.type in _WRITABLE_TYPES]
        required = [f for f in obj.fields.values() if f.required]
        if any(f not in settable for f in required):
            return None
        optional = [f for f in settable if f not in required]
        chosen = list(required)
        names = [f for f in optional if f.name in obj.name_fields]
        chosen += names
        count = self._filters([0.15, 0.4, 0.3, 0.15]) if required or names else rng.choice((2, 3))
        chosen += rng.sample(
            [f for f in optional if f not in names], min(count, len(optional) - len(names))
        )
        values: dict[str, Any] = {}
        for spec in [f for f in obj.fields.values() if f in chosen]:
            value = self._value(obj, spec, values=values)
            if value is None:
                if spec.required:
                    return None
                continue
            values[spec.name] = value
        if not values:
            return None
        meaning = Meaning("create", "create", obj.name, values=tuple(values.items()))
        return self._intent(meaning, CreateAction(action="create", sobject=obj.name, values=values))

    def _update(self, obj: ObjectProfile) -> Intent | None:
        rng = self.rng
        if not obj.updateable:
            return None
        record = rng.choice(obj.records)
        settable = [f for f in obj.fields.values() if f.updateable and f.type in _WRITABLE_TYPES]
        if not settable:
            return None
        weights = [
            3.0 if f.type == "picklist" else 0.3 if f.name in obj.name_fields else 1.0
            for f in settable
        ]
        count = 2 if rng.random() < 0.3 and len(settable) > 1 else 1
        chosen: list[FieldProfile] = []
        while len(chosen) < count:
            spec = rng.choices(settable, weights=weights)[0]
            if spec not in chosen:
                chosen.append(spec)
        values: dict[str, Any] = {}
        for spec in [f for f in obj.fields.values() if f in chosen]:
            current = record.get(spec.name)
            if count == 1 and spec.nillable and current is not None and rng.random() < 0.1:
                values[spec.name] = None
                continue
            value = self._value(obj, spec, current, values=record)
            if value is None:
                return None
            values[spec.name] = value
        record_id = str(record["Id"])
        meaning = Meaning(
            "update",
            "clear" if None in values.values() else "set",
            obj.name,
            record_id=record_id,
            record_name=obj.record_name(record) if rng.random() < 0.25 else None,
            values=tuple(values.items()),
        )
        action = UpdateAction(action="update", sobject=obj.name, record_id=record_id, values=values)
        return self._intent(meaning, action)

    def _delete(self, obj: ObjectProfile) -> Intent | None:
        if not obj.deletable:
            return None
        record = self.rng.choice(obj.records)
        record_id = str(record["Id"])
        name = obj.record_name(record) if self.rng.random() < 0.3 else None
        meaning = Meaning("delete", "delete", obj.name, record_id=record_id, record_name=name)
        return self._intent(
            meaning, DeleteAction(action="delete", sobject=obj.name, record_id=record_id)
        )

    def _describe(self, obj: ObjectProfile) -> Intent | None:
        meaning = Meaning("describe", "describe", obj.name)
        return self._intent(
            meaning, DescribeAction(action="describe", sobject=obj.name), (f"object={obj.name}",)
        )


def compose(profile: OrgProfile, rng: random.Random, count: int) -> list[Intent]:
    """Compose up to ``count`` intents, unchecked, spread over :data:`FAMILIES` by weight.

    Repeated intents (the same action) are left out; a family whose draws keep failing is
    given up after :data:`GIVE_UP_AFTER` tries in a row.

    Args:
        profile: The org, from :func:`~finetune.engine.salesforce.profile.read_org`.
        rng: The random source; the same state gives the same intents.
        count: How many intents to return at most.

    Returns:
        The intents, each a dict with ``family``, ``entity``, ``action`` and ``meaning``.
    """
    seen: set[str] = set()
    composer = Composer(profile, rng, seen)
    made: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    intents: list[Intent] = []
    while len(intents) < count:
        family = _next_family(made, {f for f in FAMILIES if misses[f] >= GIVE_UP_AFTER})
        if family is None:
            break
        intent = composer.compose(family)
        key = json.dumps({"action": intent["action"]}) if intent is not None else ""
        if intent is None or key in seen:
            misses[family] += 1
            continue
        seen.add(key)
        misses[family] = 0
        made[family] += 1
        intents.append(intent)
    return intents
