"""Deterministic seed data for the sandbox org (the sizes of the demo spec).

60 accounts, 150 contacts, 200 opportunities, 120 leads and 150 cases, drawn from a fixed
seed. Dates are laid out relative to an anchor day (today by default) so that date
literals such as ``LAST_N_DAYS:30`` or ``THIS_QUARTER`` find records whenever the sandbox
is seeded; with the same anchor the data is identical to the byte.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Final

from tools.salesforce import KEY_PREFIXES, to_18_char_id
from tools.salesforce_sandbox.schema import (
    ACCOUNT_TYPES,
    CASE_STATUSES,
    INDUSTRIES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    OPPORTUNITY_TYPES,
    ORIGINS,
    PRIORITIES,
    RATINGS,
    STAGE_PROBABILITY,
    STAGES,
)

__all__ = ["SEED", "SIZES", "format_datetime", "make_id", "seed_records"]

SEED: Final = 20240531
SIZES: Final = {"Account": 60, "Contact": 150, "Opportunity": 200, "Lead": 120, "Case": 150}

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_POD: Final = "8d0000"  # instance and reserved characters, as in a real org's Ids

_PREFIXES: Final = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
    "Soylent", "Hooli", "Vandelay", "Massive", "Pied Piper", "Aperture", "Black Mesa",
    "Oscorp", "Gringotts", "Monarch", "Nakatomi",
)  # fmt: skip
_SUFFIXES: Final = ("Corp", "Industries", "Holdings", "Group", "Labs", "Systems", "Partners",
                    "Solutions")  # fmt: skip
_PLACES: Final = (
    ("New York", "USA"), ("San Francisco", "USA"), ("Chicago", "USA"), ("Austin", "USA"),
    ("Toronto", "Canada"), ("London", "United Kingdom"), ("Manchester", "United Kingdom"),
    ("Paris", "France"), ("Lyon", "France"), ("Berlin", "Germany"), ("Munich", "Germany"),
    ("Madrid", "Spain"), ("Milan", "Italy"), ("Amsterdam", "Netherlands"),
    ("Stockholm", "Sweden"), ("Dublin", "Ireland"), ("Sydney", "Australia"),
    ("Tokyo", "Japan"), ("Singapore", "Singapore"), ("Sao Paulo", "Brazil"),
)  # fmt: skip
_FIRST: Final = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances",
    "John", "Radia", "Tim", "Katherine", "Edsger", "Hedy", "Donald", "Sophie", "Guido",
    "Anita", "Niklaus", "Mary", "James", "Elena", "Omar", "Priya", "Wei", "Fatima", "Lucas",
    "Chloe", "Mateo",
)  # fmt: skip
_LAST: Final = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
    "Allen", "McCarthy", "Perlman", "Berners-Lee", "Johnson", "Dijkstra", "Lamarr", "Knuth",
    "Wilson", "van Rossum", "Borg", "Wirth", "Keller", "Gosling", "Petrova", "Haddad",
    "Sharma", "Zhang", "Mansour", "Silva", "Dubois", "Garcia",
)  # fmt: skip
_TITLES: Final = (
    "CEO", "CFO", "CTO", "VP Sales", "VP Marketing", "Head of IT", "Procurement Manager",
    "Operations Director", "Account Manager", "Engineer", None,
)  # fmt: skip
_PRODUCTS: Final = (
    "Platform Licenses", "Support Renewal", "Expansion", "Pilot", "Services", "Upgrade",
    "Training", "Hardware Refresh",
)  # fmt: skip
_SUBJECTS: Final = (
    "Cannot log in", "Invoice discrepancy", "Feature request: export to CSV",
    "Service outage", "Slow performance", "Password reset", "Data import failed",
    "Integration error", "Billing address change", "Shipment delayed",
)  # fmt: skip


def make_id(sobject: str, number: int) -> str:
    """Return the 18-character Id of the ``number``-th record of ``sobject``."""
    digits = ""
    value = number * 7919 + 104729  # spread the numbers so Ids do not look sequential
    for _ in range(6):
        value, rest = divmod(value, 62)
        digits = _BASE62[rest] + digits
    return to_18_char_id(KEY_PREFIXES[sobject] + _POD + digits)


def format_datetime(moment: dt.datetime) -> str:
    """Format a datetime the way the REST API returns it (UTC, milliseconds, +0000)."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _moment(rng: random.Random, anchor: dt.date, days_back: int, days_min: int = 0) -> dt.datetime:
    day = anchor - dt.timedelta(days=rng.randint(days_min, days_back))
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
        seconds=rng.randint(8 * 3600, 19 * 3600)
    )


def seed_records(anchor: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
    """Generate every record of the sandbox org.

    Args:
        anchor: The day the data is laid out around; today (UTC) by default.

    Returns:
        Object name -> records (field name -> value, booleans as bool).
    """
    anchor = anchor or dt.datetime.now(dt.UTC).date()
    rng = random.Random(SEED)
    accounts: list[dict[str, Any]] = []
    names = [f"{p} {s}" for s in _SUFFIXES for p in _PREFIXES]
    rng.shuffle(names)
    for i in range(SIZES["Account"]):
        city, country = rng.choice(_PLACES)
        employees = rng.choice((12, 45, 120, 380, 950, 2400, 8800, 25000)) + rng.randint(0, 9)
        accounts.append(
            {
                "Id": make_id("Account", i),
                "Name": names[i],
                "Industry": rng.choice(INDUSTRIES),
                "Type": rng.choice(ACCOUNT_TYPES),
                "BillingCity": city,
                "BillingCountry": country,
                "AnnualRevenue": float(employees * rng.randint(80, 400) * 1000),
                "NumberOfEmployees": employees,
                "CreatedDate": _moment(rng, anchor, 1000, 400),
            }
        )
    contacts: list[dict[str, Any]] = []
    for i in range(SIZES["Contact"]):
        account = accounts[i % len(accounts)] if i < len(accounts) else rng.choice(accounts)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        domain = account["Name"].split()[0].lower().replace(" ", "") + ".example.com"
        contacts.append(
            {
                "Id": make_id("Contact", i),
                "FirstName": first,
                "LastName": last,
                "Email": f"{first}.{last}".lower().replace(" ", "") + f"{i}@{domain}",
                "Phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                "Title": rng.choice(_TITLES),
                "AccountId": account["Id"],
                "CreatedDate": _moment(rng, anchor, 700, 10),
            }
        )
    opportunities: list[dict[str, Any]] = []
    for i in range(SIZES["Opportunity"]):
        account = rng.choice(accounts)
        stage = rng.choice(STAGES)
        closed = stage.startswith("Closed")
        created = _moment(rng, anchor, 600, 30 if closed else 0)
        if closed:
            close = created.date() + dt.timedelta(days=rng.randint(5, 120))
            close = min(close, anchor)
        else:
            close = anchor + dt.timedelta(days=rng.randint(-20, 200))
        opportunities.append(
            {
                "Id": make_id("Opportunity", i),
                "Name": f"{account['Name']} - {rng.choice(_PRODUCTS)}",
                "AccountId": account["Id"],
                "Amount": float(rng.randint(5, 500) * 1000),
                "StageName": stage,
                "CloseDate": close.isoformat(),
                "Probability": float(STAGE_PROBABILITY[stage]),
                "Type": rng.choice(OPPORTUNITY_TYPES),
                "LeadSource": rng.choice(LEAD_SOURCES),
                "IsClosed": closed,
                "IsWon": stage == "Closed Won",
                "CreatedDate": created,
            }
        )
    leads: list[dict[str, Any]] = []
    for i in range(SIZES["Lead"]):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        company = f"{rng.choice(_LAST)} {rng.choice(_SUFFIXES)}"
        leads.append(
            {
                "Id": make_id("Lead", i),
                "FirstName": first,
                "LastName": last,
                "Company": company,
                "Email": f"{first}.{last}".lower().replace(" ", "") + f"{i}@lead.example.org",
                "Phone": f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                "Status": rng.choice(LEAD_STATUSES),
                "LeadSource": rng.choice(LEAD_SOURCES),
                "Industry": rng.choice(INDUSTRIES),
                "Rating": rng.choice(RATINGS),
                "CreatedDate": _moment(rng, anchor, 365),
            }
        )
    by_account: dict[str, list[dict[str, Any]]] = {}
    for person in contacts:
        by_account.setdefault(person["AccountId"], []).append(person)
    cases: list[dict[str, Any]] = []
    for i in range(SIZES["Case"]):
        account = rng.choice(accounts)
        people = by_account.get(account["Id"], [])
        contact: dict[str, Any] | None = rng.choice(people) if people else None
        status = rng.choice(CASE_STATUSES)
        created = _moment(rng, anchor, 300)
        closed_at = created + dt.timedelta(hours=rng.randint(2, 24 * 20))
        subject = rng.choice(_SUBJECTS)
        cases.append(
            {
                "Id": make_id("Case", i),
                "Subject": subject,
                "Description": f"{subject}. Reported by "
                f"{contact['FirstName'] if contact else 'a customer'} via the portal.",
                "Status": status,
                "Priority": rng.choice(PRIORITIES),
                "Origin": rng.choice(ORIGINS),
                "AccountId": account["Id"],
                "ContactId": contact["Id"] if contact else None,
                "CreatedDate": created,
                "ClosedDate": closed_at if status == "Closed" else None,
            }
        )
    records = {
        "Account": accounts,
        "Contact": contacts,
        "Opportunity": opportunities,
        "Lead": leads,
        "Case": cases,
    }
    for rows in records.values():
        for row in rows:
            for key, value in row.items():
                if isinstance(value, dt.datetime):
                    row[key] = format_datetime(value)
    return records
