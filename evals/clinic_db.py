"""A veterinary-clinic SQLite database, built deterministically from a seed.

A second domain for the SQL specialist, unlike the demo's sales database (customers, orders,
products, reps) and the lending library of the engine's tests: pet owners, their pets, the
clinic's vets, visits and the prescriptions written at them. The schema engine
(``finetune/engine``) reads it like any other live database; the hand-written questions in
``evals/data/clinic_handwritten.jsonl`` are asked about the rows that :func:`build` writes
with :data:`DEFAULT_SEED`.

What the rows look like:

* 12 vets of six specialties; the dermatologist joined in 2024, so skin cases seen before
  then went to a general practitioner;
* 600 owners in eight towns, about one in ten without a phone number and a quarter without
  an e-mail address;
* about 890 pets, mostly dogs and cats, some rabbits, birds, guinea pigs and reptiles; a
  breed is NULL where it is not known, a birth date is NULL for rescues of unknown age;
* 2,000 visits from 2023-01-02 to 2025-12-31, never on a Sunday, each given to the vet of
  the matching specialty (exotic pets to the exotics vet); visits after 2025-12-15 (the day
  the data was taken) are ``scheduled``, earlier ones ``completed``, ``cancelled`` or
  ``no-show``; the fee is NULL for visits not billed (scheduled and cancelled ones);
* a prescription for most completed visits for an injury, an illness or surgery, with a
  dose worked out from the pet's weight.

Every value of every listed value set occurs at least once. Only a private
:class:`random.Random` seeded with the given seed is used, so the same seed gives the same
rows and, on one SQLite library, the same file byte for byte.

Usage::

    python -m evals.clinic_db /tmp/clinic.sqlite [--seed 20261207] [--force]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import sys
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SEED: int = 20261207
"""Seed used when none is given; the hand-written questions hold for this seed only."""

GENERATOR_VERSION: int = 1
"""Bumped whenever the rows generated for a given seed change."""

DDL: str = """\
CREATE TABLE vets (
  id        INTEGER PRIMARY KEY,
  name      TEXT    NOT NULL,
  specialty TEXT    NOT NULL,  -- 'General Practice','Surgery','Dentistry','Dermatology','Exotics','Internal Medicine'
  hired_on  DATE    NOT NULL
);
CREATE TABLE owners (
  id        INTEGER PRIMARY KEY,
  name      TEXT    NOT NULL,
  city      TEXT    NOT NULL,  -- 'Ashford','Brookfield','Cedar Grove','Dunmore','Elmwood','Fairhaven','Greystone','Hollis'
  phone     TEXT,              -- NULL when the owner gave none
  email     TEXT,              -- NULL when the owner gave none
  joined_on DATE    NOT NULL   -- between 2015-01-01 and 2025-11-30
);
CREATE TABLE pets (
  id        INTEGER PRIMARY KEY,
  name      TEXT    NOT NULL,
  species   TEXT    NOT NULL,  -- 'Dog','Cat','Rabbit','Bird','Guinea Pig','Reptile'
  breed     TEXT,              -- NULL when not known
  sex       TEXT    NOT NULL,  -- 'Male','Female'
  born_on   DATE,              -- NULL when not known (rescues)
  weight_kg NUMERIC NOT NULL,
  owner_id  INTEGER NOT NULL REFERENCES owners(id)
);
CREATE TABLE visits (
  id         INTEGER PRIMARY KEY,
  pet_id     INTEGER NOT NULL REFERENCES pets(id),
  vet_id     INTEGER NOT NULL REFERENCES vets(id),
  visit_date DATE    NOT NULL, -- between 2023-01-02 and 2025-12-31
  reason     TEXT    NOT NULL, -- 'Vaccination','Annual Checkup','Follow-up','Injury','Skin Condition','Digestive Issue','Dental Cleaning','Surgery','Emergency'
  status     TEXT    NOT NULL, -- 'completed','cancelled','no-show','scheduled'
  fee        NUMERIC           -- NULL for visits not billed (scheduled, cancelled)
);
CREATE TABLE prescriptions (
  id         INTEGER PRIMARY KEY,
  visit_id   INTEGER NOT NULL REFERENCES visits(id),
  medication TEXT    NOT NULL,
  dose_mg    NUMERIC NOT NULL,
  days       INTEGER NOT NULL
);
"""  # noqa: E501
"""The CREATE TABLE statements of the clinic database (SQLite)."""

TABLES: tuple[str, ...] = ("vets", "owners", "pets", "visits", "prescriptions")
"""Table names in creation (foreign-key) order."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "vets": ("id", "name", "specialty", "hired_on"),
    "owners": ("id", "name", "city", "phone", "email", "joined_on"),
    "pets": ("id", "name", "species", "breed", "sex", "born_on", "weight_kg", "owner_id"),
    "visits": ("id", "pet_id", "vet_id", "visit_date", "reason", "status", "fee"),
    "prescriptions": ("id", "visit_id", "medication", "dose_mg", "days"),
}
"""Column names of each table, in DDL order (the order of the generated tuples)."""

SPECIALTIES: tuple[str, ...] = (
    "General Practice",
    "Surgery",
    "Dentistry",
    "Dermatology",
    "Exotics",
    "Internal Medicine",
)
CITIES: tuple[str, ...] = (
    "Ashford",
    "Brookfield",
    "Cedar Grove",
    "Dunmore",
    "Elmwood",
    "Fairhaven",
    "Greystone",
    "Hollis",
)
SPECIES: tuple[str, ...] = ("Dog", "Cat", "Rabbit", "Bird", "Guinea Pig", "Reptile")
SEXES: tuple[str, ...] = ("Male", "Female")
REASONS: tuple[str, ...] = (
    "Vaccination",
    "Annual Checkup",
    "Follow-up",
    "Injury",
    "Skin Condition",
    "Digestive Issue",
    "Dental Cleaning",
    "Surgery",
    "Emergency",
)
STATUSES: tuple[str, ...] = ("completed", "cancelled", "no-show", "scheduled")

VALUE_SETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("vets", "specialty"): SPECIALTIES,
    ("owners", "city"): CITIES,
    ("pets", "species"): SPECIES,
    ("pets", "sex"): SEXES,
    ("visits", "reason"): REASONS,
    ("visits", "status"): STATUSES,
}
"""Every listed value of every (table, column) occurs at least once in the generated rows."""

N_OWNERS = 600
N_VISITS = 2000
FIRST_VISIT_DAY = dt.date(2023, 1, 2)
LAST_VISIT_DAY = dt.date(2025, 12, 31)
DATA_TAKEN_ON = dt.date(2025, 12, 15)
"""Visits after this day are still ``scheduled``."""
NO_SHOW_FEE = 25.0

Row = tuple[Any, ...]

# (name, specialty, earliest and latest hiring day); the dermatologist joined in 2024, a
# second surgeon in 2023 and a general practitioner in 2025.
_VETS: tuple[tuple[str, str, dt.date, dt.date], ...] = (
    ("Margaret Okafor", "General Practice", dt.date(2009, 3, 1), dt.date(2011, 9, 30)),
    ("Tomás Aguilar", "General Practice", dt.date(2014, 1, 1), dt.date(2016, 12, 31)),
    ("Hannah Whitlock", "General Practice", dt.date(2019, 1, 1), dt.date(2021, 6, 30)),
    ("Viktor Lindqvist", "Surgery", dt.date(2012, 1, 1), dt.date(2014, 12, 31)),
    ("Priyanka Desai", "Dentistry", dt.date(2017, 1, 1), dt.date(2018, 12, 31)),
    ("Colette Marchand", "Dermatology", dt.date(2024, 2, 1), dt.date(2024, 4, 30)),
    ("Ben Harrow", "Exotics", dt.date(2016, 1, 1), dt.date(2020, 12, 31)),
    ("Siobhan Keane", "Internal Medicine", dt.date(2018, 1, 1), dt.date(2022, 6, 30)),
    ("Daniel Osei", "General Practice", dt.date(2012, 1, 1), dt.date(2018, 12, 31)),
    ("Rebecca Lund", "General Practice", dt.date(2025, 1, 1), dt.date(2025, 3, 31)),
    ("Amara Nwosu", "Surgery", dt.date(2023, 6, 1), dt.date(2023, 10, 31)),
    ("Kofi Mensah", "Exotics", dt.date(2021, 1, 1), dt.date(2022, 12, 31)),
)
_CITY_WEIGHTS: tuple[float, ...] = (22, 18, 14, 12, 11, 9, 8, 6)
_AREA_CODES: dict[str, str] = {
    "Ashford": "413",
    "Brookfield": "413",
    "Cedar Grove": "508",
    "Dunmore": "508",
    "Elmwood": "774",
    "Fairhaven": "774",
    "Greystone": "978",
    "Hollis": "978",
}
_FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Linda", "David", "Susan", "Daniel", "Karen", "Paul", "Nancy",
    "Mark", "Laura", "Steven", "Emily", "Kevin", "Rachel", "Brian", "Megan", "Jason", "Olivia",
    "Eric", "Sophie", "Adam", "Grace", "Nathan", "Chloe", "Aaron", "Naomi", "Samuel", "Julia",
    "Omar", "Fatima", "Luis", "Elena", "Kenji", "Aiko", "Ravi", "Anjali", "Tariq", "Ingrid",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "Walsh", "Murphy", "Bennett", "Carver", "Doyle", "Ellison", "Fletcher", "Garrison",
    "Holloway", "Irving", "Jansen", "Kowalski", "Lambert", "Mendoza", "Nolan", "O'Brien",
    "Pearce", "Quinlan", "Reyes", "Sandoval", "Thornton", "Underwood", "Vasquez", "Whitaker",
    "Yates", "Abernathy", "Brennan", "Castillo", "Delgado", "Fitzgerald", "Hartley", "Novak",
    "Petrov", "Sato", "Okonkwo", "Haddad", "Lindgren", "Moreau", "Rossi", "Chen",
)  # fmt: skip
_EMAIL_DOMAINS: tuple[str, ...] = ("mailbox.net", "inbox.com", "postmail.org", "webmail.com")
_PET_NAMES: tuple[str, ...] = (
    "Bella", "Max", "Luna", "Charlie", "Lucy", "Cooper", "Daisy", "Milo", "Bailey", "Rocky",
    "Sadie", "Oliver", "Molly", "Teddy", "Coco", "Buddy", "Rosie", "Leo", "Ruby", "Bear",
    "Nala", "Simba", "Pepper", "Ziggy", "Maple", "Biscuit", "Hazel", "Jasper", "Olive", "Finn",
    "Willow", "Gus", "Poppy", "Murphy", "Penny", "Oscar", "Mochi", "Winston", "Clover", "Ginger",
    "Shadow", "Pumpkin", "Thor", "Luna Belle", "Kiwi", "Peanut", "Juniper", "Archie", "Sasha",
    "Loki", "Nutmeg", "Waffles", "Dexter", "Pickles", "Sunny", "Rex", "Marble", "Tango",
)  # fmt: skip
_SPECIES_WEIGHTS: tuple[float, ...] = (46, 36, 7, 5, 3, 3)
_BREEDS: dict[str, tuple[str, ...]] = {
    "Dog": (
        "Labrador Retriever", "Golden Retriever", "German Shepherd", "French Bulldog",
        "Beagle", "Dachshund", "Border Collie", "Poodle", "Boxer", "Cocker Spaniel",
        "Shih Tzu", "Mixed Breed",
    ),
    "Cat": (
        "Domestic Shorthair", "Domestic Longhair", "Maine Coon", "Siamese", "Ragdoll",
        "British Shorthair", "Bengal", "Persian",
    ),
    "Rabbit": ("Holland Lop", "Netherland Dwarf", "Lionhead", "Flemish Giant"),
    "Bird": ("Budgerigar", "Cockatiel", "African Grey", "Canary"),
    "Guinea Pig": ("American", "Abyssinian", "Peruvian"),
    "Reptile": ("Bearded Dragon", "Leopard Gecko", "Corn Snake", "Red-eared Slider"),
}  # fmt: skip
_BREED_WEIGHTS: dict[str, tuple[float, ...]] = {
    "Dog": (14, 11, 8, 7, 7, 6, 6, 6, 5, 5, 5, 20),
    "Cat": (40, 14, 10, 8, 8, 7, 7, 6),
    "Rabbit": (4, 3, 2, 1),
    "Bird": (5, 3, 1, 2),
    "Guinea Pig": (3, 2, 1),
    "Reptile": (4, 3, 2, 2),
}
_UNKNOWN_BREED = 0.08
_UNKNOWN_BIRTH = 0.07
# Adult weight in kg (low, high) and life span in years per species (and per dog breed).
_WEIGHT: dict[str, tuple[float, float]] = {
    "Dog": (6.0, 38.0),
    "Cat": (2.8, 7.2),
    "Rabbit": (1.0, 6.5),
    "Bird": (0.03, 0.55),
    "Guinea Pig": (0.7, 1.3),
    "Reptile": (0.08, 3.5),
}
_DOG_WEIGHT: dict[str, tuple[float, float]] = {
    "Labrador Retriever": (25.0, 36.0),
    "Golden Retriever": (25.0, 34.0),
    "German Shepherd": (22.0, 40.0),
    "French Bulldog": (8.0, 14.0),
    "Beagle": (9.0, 14.0),
    "Dachshund": (5.0, 12.0),
    "Border Collie": (13.0, 21.0),
    "Poodle": (4.0, 30.0),
    "Boxer": (24.0, 33.0),
    "Cocker Spaniel": (11.0, 15.0),
    "Shih Tzu": (4.0, 8.0),
}
_LIFE_SPAN: dict[str, int] = {
    "Dog": 14,
    "Cat": 18,
    "Rabbit": 10,
    "Bird": 15,
    "Guinea Pig": 6,
    "Reptile": 15,
}
_PETS_PER_OWNER: tuple[tuple[int, ...], tuple[float, ...]] = ((1, 2, 3, 4), (64, 25, 8, 3))
_REASON_WEIGHTS: dict[str, tuple[float, ...]] = {
    # Vaccination, Checkup, Follow-up, Injury, Skin, Digestive, Dental, Surgery, Emergency
    "mammal": (18, 20, 12, 9, 9, 9, 7, 5, 4),
    "exotic": (6, 26, 14, 12, 8, 12, 6, 4, 5),
}
_REASON_SPECIALTY: dict[str, str] = {
    "Vaccination": "General Practice",
    "Annual Checkup": "General Practice",
    "Follow-up": "General Practice",
    "Injury": "General Practice",
    "Emergency": "General Practice",
    "Skin Condition": "Dermatology",
    "Digestive Issue": "Internal Medicine",
    "Dental Cleaning": "Dentistry",
    "Surgery": "Surgery",
}
_FEE: dict[str, tuple[float, float]] = {
    "Vaccination": (38.0, 72.0),
    "Annual Checkup": (55.0, 95.0),
    "Follow-up": (30.0, 60.0),
    "Injury": (110.0, 480.0),
    "Skin Condition": (85.0, 240.0),
    "Digestive Issue": (90.0, 320.0),
    "Dental Cleaning": (240.0, 640.0),
    "Surgery": (650.0, 2900.0),
    "Emergency": (320.0, 1450.0),
}
_PAST_STATUS_WEIGHTS: tuple[float, ...] = (86, 8, 6)  # completed, cancelled, no-show
# Chance that a completed visit gets a prescription, and that it gets a second one.
_PRESCRIBED: dict[str, tuple[float, float]] = {
    "Vaccination": (0.03, 0.0),
    "Annual Checkup": (0.12, 0.0),
    "Follow-up": (0.25, 0.1),
    "Injury": (0.85, 0.4),
    "Skin Condition": (0.9, 0.3),
    "Digestive Issue": (0.85, 0.35),
    "Dental Cleaning": (0.6, 0.3),
    "Surgery": (0.97, 0.7),
    "Emergency": (0.9, 0.45),
}
# medication -> (mg per kg low, high, days low, high)
_MEDICATIONS: dict[str, tuple[float, float, int, int]] = {
    "Amoxicillin-Clavulanate": (12.5, 20.0, 7, 14),
    "Cefalexin": (15.0, 25.0, 10, 21),
    "Enrofloxacin": (5.0, 10.0, 7, 10),
    "Metronidazole": (10.0, 15.0, 5, 10),
    "Carprofen": (2.0, 4.4, 3, 14),
    "Meloxicam": (0.05, 0.2, 3, 7),
    "Gabapentin": (5.0, 10.0, 7, 30),
    "Buprenorphine": (0.01, 0.03, 2, 5),
    "Prednisolone": (0.5, 1.0, 5, 14),
    "Oclacitinib": (0.4, 0.6, 14, 28),
    "Maropitant": (1.0, 2.0, 2, 5),
    "Fenbendazole": (50.0, 50.0, 3, 5),
}
_REASON_MEDICATIONS: dict[str, tuple[str, ...]] = {
    "Vaccination": ("Meloxicam",),
    "Annual Checkup": ("Fenbendazole",),
    "Follow-up": ("Amoxicillin-Clavulanate", "Carprofen", "Meloxicam", "Prednisolone"),
    "Injury": ("Carprofen", "Meloxicam", "Cefalexin", "Gabapentin"),
    "Skin Condition": ("Oclacitinib", "Prednisolone", "Cefalexin"),
    "Digestive Issue": ("Metronidazole", "Maropitant", "Fenbendazole"),
    "Dental Cleaning": ("Amoxicillin-Clavulanate", "Meloxicam"),
    "Surgery": ("Buprenorphine", "Carprofen", "Meloxicam", "Amoxicillin-Clavulanate"),
    "Emergency": ("Maropitant", "Buprenorphine", "Enrofloxacin", "Gabapentin"),
}
# Drugs not given to a species: carprofen and oclacitinib are for dogs only.
_DOG_ONLY: frozenset[str] = frozenset({"Carprofen", "Oclacitinib"})
_EXOTIC_DRUGS: tuple[str, ...] = ("Enrofloxacin", "Meloxicam", "Fenbendazole")


def _random_date(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def _covering(
    rng: random.Random, values: Sequence[str], weights: Sequence[float], count: int
) -> list[str]:
    """``count`` weighted random values in random order, each of ``values`` at least once."""
    chosen = list(values) + rng.choices(list(values), weights=list(weights), k=count - len(values))
    rng.shuffle(chosen)
    return chosen


def _gen_vets(rng: random.Random) -> list[Row]:
    return [
        (index, name, specialty, _random_date(rng, first, last))
        for index, (name, specialty, first, last) in enumerate(_VETS, start=1)
    ]


def _gen_owners(rng: random.Random) -> list[Row]:
    cities = _covering(rng, CITIES, _CITY_WEIGHTS, N_OWNERS)
    rows: list[Row] = []
    used: set[str] = set()
    phones: set[str] = set()
    for index, city in enumerate(cities, start=1):
        while True:
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            name = f"{first} {last}"
            if name not in used:
                break
        used.add(name)
        phone: str | None = None
        if rng.random() >= 0.1:
            while phone is None or phone in phones:
                phone = f"{_AREA_CODES[city]}-555-{rng.randint(100, 9999):04d}"
            phones.add(phone)
        email: str | None = None
        if rng.random() >= 0.25:
            local = f"{first}.{last}".lower().replace("'", "")
            email = f"{local}@{rng.choice(_EMAIL_DOMAINS)}"
        joined_on = _random_date(rng, dt.date(2015, 1, 1), dt.date(2025, 11, 30))
        rows.append((index, name, city, phone, email, joined_on))
    return rows


def _weight(rng: random.Random, species: str, breed: str | None) -> float:
    low, high = _DOG_WEIGHT.get(breed or "", _WEIGHT[species])
    value = rng.uniform(low, high)
    return round(value, 2 if value < 1.0 else 1)


def _gen_pets(rng: random.Random, owners: list[Row]) -> list[Row]:
    sizes, size_weights = _PETS_PER_OWNER
    drafts: list[tuple[int, dt.date]] = []
    for owner in owners:
        count = rng.choices(sizes, weights=size_weights)[0]
        drafts.extend((owner[0], owner[5]) for _ in range(count))
    species_of = _covering(rng, SPECIES, _SPECIES_WEIGHTS, len(drafts))
    sexes = _covering(rng, SEXES, (1, 1), len(drafts))
    rows: list[Row] = []
    for index, ((owner_id, joined_on), species) in enumerate(zip(drafts, species_of, strict=True)):
        breed: str | None = rng.choices(_BREEDS[species], weights=_BREED_WEIGHTS[species])[0]
        if rng.random() < _UNKNOWN_BREED:
            breed = None
        # Born before the owner joined, or at most a few years after; never after the data.
        oldest = joined_on - dt.timedelta(days=365 * _LIFE_SPAN[species] // 2)
        youngest = min(joined_on + dt.timedelta(days=3 * 365), dt.date(2025, 9, 30))
        born_on: dt.date | None = _random_date(rng, oldest, youngest)
        if rng.random() < _UNKNOWN_BIRTH:
            born_on = None
        name = rng.choice(_PET_NAMES)
        rows.append(
            (
                index + 1,
                name,
                species,
                breed,
                sexes[index],
                born_on,
                _weight(rng, species, breed),
                owner_id,
            )
        )
    return rows


def _vet_for(rng: random.Random, reason: str, species: str, day: dt.date, vets: list[Row]) -> Row:
    """The vet who sees a pet for ``reason`` on ``day``: the specialist if employed then."""
    hired = [vet for vet in vets if vet[3] <= day]
    wanted = _REASON_SPECIALTY[reason]
    if species not in ("Dog", "Cat") and reason not in ("Surgery", "Dental Cleaning"):
        wanted = "Exotics"
    matching = [vet for vet in hired if vet[2] == wanted]
    if not matching:
        matching = [vet for vet in hired if vet[2] == "General Practice"]
    return rng.choice(matching)


def _gen_visits(
    rng: random.Random, vets: list[Row], owners: list[Row], pets: list[Row]
) -> list[Row]:
    joined = {owner[0]: owner[5] for owner in owners}
    days = [
        FIRST_VISIT_DAY + dt.timedelta(days=offset)
        for offset in range((LAST_VISIT_DAY - FIRST_VISIT_DAY).days + 1)
    ]
    days = [day for day in days if day.weekday() != 6]  # closed on Sundays
    day_weights = [
        (0.6 if day.weekday() == 5 else 1.0) * (1.0 + 0.35 * index / len(days))
        for index, day in enumerate(days)
    ]
    pet_weights = [rng.lognormvariate(0.0, 0.8) for _ in pets]
    drafts: list[tuple[dt.date, int, Row, str]] = []
    sequence = 0
    while len(drafts) < N_VISITS:
        pet = rng.choices(pets, weights=pet_weights)[0]
        day = rng.choices(days, weights=day_weights)[0]
        first_day = max(joined[pet[7]], pet[5] or FIRST_VISIT_DAY)
        if day < first_day:
            continue
        kind = "mammal" if pet[2] in ("Dog", "Cat") else "exotic"
        reason = rng.choices(REASONS, weights=_REASON_WEIGHTS[kind])[0]
        drafts.append((day, sequence, pet, reason))
        sequence += 1
    drafts.sort(key=lambda draft: (draft[0], draft[1]))  # ids increase with the date
    rows: list[Row] = []
    for index, (day, _, pet, reason) in enumerate(drafts, start=1):
        vet = _vet_for(rng, reason, pet[2], day, vets)
        if day > DATA_TAKEN_ON:
            status = "scheduled"
        else:
            status = rng.choices(STATUSES[:3], weights=_PAST_STATUS_WEIGHTS)[0]
        fee: float | None = None
        if status == "completed":
            fee = round(rng.uniform(*_FEE[reason]), 2)
        elif status == "no-show":
            fee = NO_SHOW_FEE
        rows.append((index, pet[0], vet[0], day, reason, status, fee))
    return rows


def _gen_prescriptions(rng: random.Random, pets: list[Row], visits: list[Row]) -> list[Row]:
    pet_by_id = {pet[0]: pet for pet in pets}
    rows: list[Row] = []
    for visit in visits:
        if visit[5] != "completed":
            continue
        first_chance, second_chance = _PRESCRIBED[visit[4]]
        if rng.random() >= first_chance:
            continue
        count = 2 if rng.random() < second_chance else 1
        pet = pet_by_id[visit[1]]
        species = pet[2]
        if species in ("Dog", "Cat"):
            pool = [
                name
                for name in _REASON_MEDICATIONS[visit[4]]
                if species == "Dog" or name not in _DOG_ONLY
            ]
        else:
            pool = list(_EXOTIC_DRUGS)
        if not pool:
            pool = ["Meloxicam"]
        for medication in rng.sample(pool, min(count, len(pool))):
            low, high, short, long = _MEDICATIONS[medication]
            dose = max(0.1, round(rng.uniform(low, high) * float(pet[6]), 1))
            rows.append((len(rows) + 1, visit[0], medication, dose, rng.randint(short, long)))
    return rows


def generate_rows(seed: int = DEFAULT_SEED) -> dict[str, list[Row]]:
    """Generate the clinic database's rows deterministically from ``seed``.

    Args:
        seed: Seed of a private :class:`random.Random`; the same seed always gives the same
            rows (for a given :data:`GENERATOR_VERSION`).

    Returns:
        A dict from table name to rows, keys in :data:`TABLES` order; each row a tuple in
        :data:`COLUMNS` order. Dates are :class:`datetime.date`, money and weights floats,
        missing values None.
    """
    rng = random.Random(seed)
    vets = _gen_vets(rng)
    owners = _gen_owners(rng)
    pets = _gen_pets(rng, owners)
    visits = _gen_visits(rng, vets, owners, pets)
    prescriptions = _gen_prescriptions(rng, pets, visits)
    return {
        "vets": vets,
        "owners": owners,
        "pets": pets,
        "visits": visits,
        "prescriptions": prescriptions,
    }


def _fingerprint(seed: int) -> tuple[int, int]:
    """``(user_version, application_id)`` identifying a database built from ``seed``."""
    user_version = GENERATOR_VERSION * 1_000_000 + seed % 1_000_000
    application_id = zlib.crc32(f"slm-dispatch-clinic:{GENERATOR_VERSION}:{seed}".encode())
    return user_version, application_id & 0x7FFFFFFF


def _existing_fingerprint(path: Path) -> tuple[int, int] | None:
    """The fingerprint of the clinic database at ``path``, or None if it is not one."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        names = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if names != set(TABLES):
        return None
    return int(user_version), int(application_id)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _write(path: Path, rows: dict[str, list[Row]], fingerprint: tuple[int, int]) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(DDL)
        for table in TABLES:
            columns = COLUMNS[table]
            placeholders = ", ".join("?" for _ in columns)
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                ([_sqlite_value(value) for value in row] for row in rows[table]),
            )
        conn.execute(f"PRAGMA user_version = {int(fingerprint[0])}")
        conn.execute(f"PRAGMA application_id = {int(fingerprint[1])}")
        conn.commit()
    finally:
        conn.close()


def build(path: Path, seed: int = DEFAULT_SEED, *, force: bool = False) -> Path:
    """Build the clinic SQLite database at ``path``, atomically.

    The file is written next to ``path`` under a temporary name and moved into place with
    :func:`os.replace`, so a reader never sees a half-built database. The seed and
    :data:`GENERATOR_VERSION` are recorded in ``PRAGMA user_version`` and
    ``PRAGMA application_id``; a file that already carries them is left as it is.

    Args:
        path: Where the database goes; missing parent directories are created.
        seed: Seed passed to :func:`generate_rows`.
        force: Rebuild even if ``path`` already holds the database for this seed.

    Returns:
        ``path``.

    Raises:
        OSError: The directory cannot be created or written.
        sqlite3.Error: SQLite fails to write the database.
    """
    path = Path(path)
    fingerprint = _fingerprint(seed)
    if not force and path.is_file() and _existing_fingerprint(path) == fingerprint:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temp_path = Path(temp_name)
    try:
        temp_path.unlink()  # let SQLite create the file itself
        _write(temp_path, generate_rows(seed), fingerprint)
        os.replace(temp_path, path)
    finally:
        temp_path.unlink(missing_ok=True)
    return path


def table_sizes(path: Path) -> dict[str, int]:
    """The number of rows of each table of the clinic database at ``path``."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {
            table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in TABLES
        }
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Build the database at the path given and print the size of each table."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.clinic_db", description="Build the veterinary-clinic database."
    )
    parser.add_argument("path", type=Path, help="where the SQLite file goes")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the rows")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    path = build(args.path, args.seed, force=args.force)
    sizes = table_sizes(path)
    for table, size in sizes.items():
        print(f"{table:<14} {size:>6}")
    print(f"{'total':<14} {sum(sizes.values()):>6}  ({path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
