"""The demo sales database: fixed schema, deterministic rows, SQLite and PostgreSQL loaders.

The schema is fixed by ``shared/spec/demo_domain.md`` section 1 and reproduced verbatim in
:data:`DDL`. The rows are generated from a seed with a private :class:`random.Random`, so
every machine that uses the same seed and :data:`GENERATOR_VERSION` gets the same data, in
SQLite and in PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import random
import sqlite3
import tempfile
import time
import zlib
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_SEED: int = 20250101
"""Seed used when none is given; the demo, tests and benchmarks all use it."""

GENERATOR_VERSION: int = 1
"""Bumped whenever :func:`generate_demo_rows` changes its output for a given seed."""

DDL: str = """\
CREATE TABLE sales_reps (
  id        INTEGER PRIMARY KEY,
  name      TEXT    NOT NULL,
  region    TEXT    NOT NULL,   -- 'North America','EMEA','APAC','LATAM'
  hired_on  DATE    NOT NULL
);
CREATE TABLE customers (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL,
  industry   TEXT    NOT NULL,  -- 'Software','Retail','Healthcare','Finance','Manufacturing','Education','Energy','Media'
  country    TEXT    NOT NULL,  -- 'USA','Canada','Mexico','Brazil','Germany','France','United Kingdom','Spain','Italy','Netherlands','Japan','India','Australia','Singapore'
  segment    TEXT    NOT NULL,  -- 'Enterprise','Mid-Market','SMB'
  rep_id     INTEGER NOT NULL REFERENCES sales_reps(id),
  created_on DATE    NOT NULL
);
CREATE TABLE products (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL,
  category   TEXT    NOT NULL,  -- 'Hardware','Software','Services','Support'
  unit_price NUMERIC NOT NULL
);
CREATE TABLE orders (
  id          INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  order_date  DATE    NOT NULL, -- between 2023-01-01 and 2025-12-31
  status      TEXT    NOT NULL  -- 'pending','shipped','delivered','cancelled','returned'
);
CREATE TABLE order_items (
  order_id   INTEGER NOT NULL REFERENCES orders(id),
  product_id INTEGER NOT NULL REFERENCES products(id),
  quantity   INTEGER NOT NULL,
  unit_price NUMERIC NOT NULL,
  PRIMARY KEY (order_id, product_id)
);
"""  # noqa: E501
"""The spec's CREATE TABLE statements, verbatim; loads into SQLite and PostgreSQL."""

TABLES: tuple[str, ...] = ("sales_reps", "customers", "products", "orders", "order_items")
"""Table names in creation (foreign-key) order."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "sales_reps": ("id", "name", "region", "hired_on"),
    "customers": ("id", "name", "industry", "country", "segment", "rep_id", "created_on"),
    "products": ("id", "name", "category", "unit_price"),
    "orders": ("id", "customer_id", "order_date", "status"),
    "order_items": ("order_id", "product_id", "quantity", "unit_price"),
}
"""Column names of each table, in DDL order (the order of the generated tuples)."""

REGIONS: tuple[str, ...] = ("North America", "EMEA", "APAC", "LATAM")
INDUSTRIES: tuple[str, ...] = (
    "Software",
    "Retail",
    "Healthcare",
    "Finance",
    "Manufacturing",
    "Education",
    "Energy",
    "Media",
)
COUNTRIES: tuple[str, ...] = (
    "USA",
    "Canada",
    "Mexico",
    "Brazil",
    "Germany",
    "France",
    "United Kingdom",
    "Spain",
    "Italy",
    "Netherlands",
    "Japan",
    "India",
    "Australia",
    "Singapore",
)
SEGMENTS: tuple[str, ...] = ("Enterprise", "Mid-Market", "SMB")
CATEGORIES: tuple[str, ...] = ("Hardware", "Software", "Services", "Support")
STATUSES: tuple[str, ...] = ("pending", "shipped", "delivered", "cancelled", "returned")

VALUE_SETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sales_reps", "region"): REGIONS,
    ("customers", "industry"): INDUSTRIES,
    ("customers", "country"): COUNTRIES,
    ("customers", "segment"): SEGMENTS,
    ("products", "category"): CATEGORIES,
    ("orders", "status"): STATUSES,
}
"""Every listed value of every (table, column) occurs at least once in the generated rows."""

N_REPS_PER_REGION = 3
N_CUSTOMERS = 200
N_ORDERS = 5000
ORDERS_FIRST_DAY = dt.date(2023, 1, 1)
ORDERS_LAST_DAY = dt.date(2025, 12, 31)

Row = tuple[Any, ...]

_COUNTRY_REGION: dict[str, str] = {
    "USA": "North America",
    "Canada": "North America",
    "Mexico": "LATAM",
    "Brazil": "LATAM",
    "Germany": "EMEA",
    "France": "EMEA",
    "United Kingdom": "EMEA",
    "Spain": "EMEA",
    "Italy": "EMEA",
    "Netherlands": "EMEA",
    "Japan": "APAC",
    "India": "APAC",
    "Australia": "APAC",
    "Singapore": "APAC",
}
_COUNTRY_WEIGHTS: dict[str, float] = {
    "USA": 34,
    "Canada": 7,
    "Mexico": 5,
    "Brazil": 6,
    "Germany": 8,
    "France": 6,
    "United Kingdom": 8,
    "Spain": 3,
    "Italy": 3,
    "Netherlands": 3,
    "Japan": 5,
    "India": 5,
    "Australia": 4,
    "Singapore": 3,
}
_COUNTRY_LEGAL_SUFFIX: dict[str, tuple[str, ...]] = {
    "USA": ("Inc.", "LLC", "Corp."),
    "Canada": ("Ltd.", "Inc."),
    "Mexico": ("S.A. de C.V.",),
    "Brazil": ("Ltda.", "S.A."),
    "Germany": ("GmbH", "AG"),
    "France": ("SA", "SAS"),
    "United Kingdom": ("Ltd", "plc"),
    "Spain": ("S.L.", "S.A."),
    "Italy": ("S.p.A.", "S.r.l."),
    "Netherlands": ("B.V.", "N.V."),
    "Japan": ("K.K.", "Co., Ltd."),
    "India": ("Pvt. Ltd.", "Ltd."),
    "Australia": ("Pty Ltd",),
    "Singapore": ("Pte. Ltd.",),
}
_INDUSTRY_WEIGHTS: dict[str, float] = {
    "Software": 18,
    "Retail": 15,
    "Healthcare": 13,
    "Finance": 14,
    "Manufacturing": 15,
    "Education": 8,
    "Energy": 8,
    "Media": 9,
}
_INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "Software": ("Software", "Systems", "Labs", "Technologies", "Digital", "Cloud"),
    "Retail": ("Stores", "Outfitters", "Market", "Goods", "Retail", "Trading"),
    "Healthcare": ("Health", "Medical", "Clinics", "Pharma", "Care", "Diagnostics"),
    "Finance": ("Capital", "Financial", "Bank", "Partners", "Investments", "Insurance"),
    "Manufacturing": ("Industries", "Manufacturing", "Works", "Fabrication", "Components"),
    "Education": ("Academy", "Learning", "Institute", "Schools", "Education"),
    "Energy": ("Energy", "Power", "Renewables", "Utilities", "Solar", "Grid"),
    "Media": ("Media", "Studios", "Broadcasting", "Publishing", "Entertainment"),
}
_COMPANY_STEMS: tuple[str, ...] = (
    "Northwind", "Blue Harbor", "Ironwood", "Silverline", "Redstone", "Brightpath",
    "Summit", "Evergreen", "Crescent", "Granite", "Pioneer", "Atlas", "Meridian",
    "Oakridge", "Cobalt", "Harborview", "Keystone", "Lakeside", "Horizon", "Falcon",
    "Sterling", "Westfield", "Clearwater", "Beacon", "Riverbend", "Highland", "Vertex",
    "Polaris", "Juniper", "Maple Leaf", "Copperfield", "Stonebridge", "Nimbus", "Orion",
    "Sapphire", "Tidewater", "Greenfield", "Aurora", "Bluebird", "Cedar", "Delta",
    "Eastgate", "Foxglove", "Golden Gate", "Hawthorne", "Ivory", "Jade", "Kingsley",
    "Lighthouse", "Monarch", "Nova", "Oceanic", "Pinnacle", "Quantum", "Rainier",
    "Sequoia", "Trident", "Upland", "Vanguard", "Willow", "Zephyr", "Alpine", "Bayside",
    "Cascade", "Driftwood", "Emerald", "Frontier", "Glacier", "Heritage", "Insight",
)  # fmt: skip
_REP_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "North America": (
        ("Emily", "Jacob", "Olivia", "Michael", "Sophia", "Daniel", "Hannah", "Ryan"),
        ("Carter", "Brooks", "Bennett", "Hughes", "Foster", "Reed", "Sullivan", "Parker"),
    ),
    "EMEA": (
        ("Lena", "Lukas", "Camille", "Hugo", "Isabella", "Matteo", "Sanne", "Oliver"),
        ("Schneider", "Dubois", "Rossi", "de Vries", "Fischer", "Moreau", "Walsh", "Garcia"),
    ),
    "APAC": (
        ("Yuki", "Arjun", "Mei", "Haruto", "Priya", "Wei", "Chloe", "Rahul"),
        ("Tanaka", "Sharma", "Lim", "Nakamura", "Iyer", "Chen", "Nguyen", "Watanabe"),
    ),
    "LATAM": (
        ("Lucas", "Valentina", "Mateo", "Camila", "Diego", "Isabela", "Gabriel", "Mariana"),
        ("Silva", "Hernandez", "Oliveira", "Lopez", "Santos", "Ramirez", "Costa", "Torres"),
    ),
}
# (name, low price, high price) per category; 12 + 12 + 8 + 8 = 40 products.
_PRODUCT_CATALOG: dict[str, tuple[tuple[str, int, int], ...]] = {
    "Hardware": (
        ("Edge Gateway E100", 400, 900),
        ("Edge Gateway E300", 1100, 2200),
        ("Rack Server R740", 4200, 8900),
        ("Rack Server R940", 9000, 16000),
        ("Storage Array S20", 6500, 14000),
        ("Network Switch 24-Port", 800, 1600),
        ("Network Switch 48-Port", 1500, 3200),
        ("Wireless Access Point AX", 180, 420),
        ("Rugged Tablet T8", 900, 1700),
        ("Barcode Scanner BS2", 120, 300),
        ("IoT Sensor Kit", 150, 380),
        ("Thin Client TC5", 300, 650),
    ),
    "Software": (
        ("Analytics Suite - Annual License", 2400, 6000),
        ("CRM Cloud - Seat License", 60, 150),
        ("Data Pipeline Studio", 1800, 4800),
        ("Security Shield Endpoint", 40, 95),
        ("Workflow Automator", 900, 2400),
        ("BI Dashboards Pro", 600, 1500),
        ("Inventory Manager", 1200, 3000),
        ("Document Vault", 300, 800),
        ("Backup & Recovery Suite", 1500, 3800),
        ("API Gateway License", 2000, 5200),
        ("Identity Manager", 25, 70),
        ("Collaboration Hub - Seat", 10, 30),
    ),
    "Services": (
        ("Implementation Package - Standard", 5000, 12000),
        ("Implementation Package - Premium", 15000, 32000),
        ("Data Migration Service", 3000, 9000),
        ("On-site Training Day", 1200, 2600),
        ("Architecture Review", 4000, 8000),
        ("Custom Integration Sprint", 8000, 18000),
        ("Security Assessment", 6000, 14000),
        ("Health Check Service", 1500, 3500),
    ),
    "Support": (
        ("Standard Support - 12 Months", 500, 1400),
        ("Premium Support - 12 Months", 1800, 4200),
        ("24x7 Critical Support - 12 Months", 4500, 9500),
        ("Extended Hardware Warranty - 3 Years", 250, 900),
        ("Technical Account Manager - Quarter", 6000, 12000),
        ("Remote Monitoring - 12 Months", 900, 2400),
        ("Software Maintenance - 12 Months", 700, 2000),
        ("Next-Business-Day Replacement", 300, 850),
    ),
}
_QUANTITY_RANGE: dict[str, tuple[int, int]] = {
    "Hardware": (1, 20),
    "Software": (1, 50),
    "Services": (1, 3),
    "Support": (1, 5),
}
_SEGMENT_WEIGHTS: dict[str, float] = {"Enterprise": 25, "Mid-Market": 40, "SMB": 35}
_SEGMENT_MAX_DISCOUNT: dict[str, float] = {"Enterprise": 0.20, "Mid-Market": 0.12, "SMB": 0.05}
_SEGMENT_ORDER_WEIGHT: dict[str, float] = {"Enterprise": 3.0, "Mid-Market": 1.6, "SMB": 1.0}
_ITEMS_PER_ORDER: tuple[tuple[int, ...], tuple[float, ...]] = ((1, 2, 3, 4, 5), (30, 30, 20, 12, 8))

_CENT = Decimal("0.01")


class DemoDatabaseError(Exception):
    """The demo database could not be created or loaded."""


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP)


def _random_date(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def _covering_values(
    rng: random.Random, values: Sequence[str], weights: Sequence[float], count: int
) -> list[str]:
    """Return ``count`` weighted random values in random order, each of ``values`` at least once."""
    if count < len(values):
        raise ValueError(f"cannot cover {len(values)} values with {count} rows")
    chosen = list(values) + rng.choices(list(values), weights=list(weights), k=count - len(values))
    rng.shuffle(chosen)
    return chosen


def _gen_sales_reps(rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    used: set[str] = set()
    for region in REGIONS:
        first_names, last_names = _REP_NAMES[region]
        for _ in range(N_REPS_PER_REGION):
            name = f"{rng.choice(first_names)} {rng.choice(last_names)}"
            while name in used:
                name = f"{rng.choice(first_names)} {rng.choice(last_names)}"
            used.add(name)
            hired_on = _random_date(rng, dt.date(2015, 3, 1), dt.date(2022, 10, 31))
            rows.append((len(rows) + 1, name, region, hired_on))
    return rows


def _gen_customers(rng: random.Random, reps: list[Row]) -> list[Row]:
    industries = _covering_values(
        rng, INDUSTRIES, [_INDUSTRY_WEIGHTS[i] for i in INDUSTRIES], N_CUSTOMERS
    )
    countries = _covering_values(
        rng, COUNTRIES, [_COUNTRY_WEIGHTS[c] for c in COUNTRIES], N_CUSTOMERS
    )
    segments = _covering_values(rng, SEGMENTS, [_SEGMENT_WEIGHTS[s] for s in SEGMENTS], N_CUSTOMERS)
    reps_by_region: dict[str, list[Row]] = {region: [] for region in REGIONS}
    for rep in reps:
        reps_by_region[rep[2]].append(rep)
    # Within a region, deal customers out over the region's reps (in a random order) so that
    # every rep gets a fair share of accounts.
    region_cursor: dict[str, int] = {region: rng.randrange(N_REPS_PER_REGION) for region in REGIONS}
    for region_reps in reps_by_region.values():
        rng.shuffle(region_reps)

    rows: list[Row] = []
    used: set[str] = set()
    for index in range(N_CUSTOMERS):
        industry, country, segment = industries[index], countries[index], segments[index]
        region = _COUNTRY_REGION[country]
        region_reps = reps_by_region[region]
        rep = region_reps[region_cursor[region] % len(region_reps)]
        region_cursor[region] += 1
        while True:
            name = (
                f"{rng.choice(_COMPANY_STEMS)} {rng.choice(_INDUSTRY_WORDS[industry])} "
                f"{rng.choice(_COUNTRY_LEGAL_SUFFIX[country])}"
            )
            if name not in used:
                break
        used.add(name)
        earliest = max(dt.date(2019, 1, 1), rep[3])
        created_on = _random_date(rng, earliest, dt.date(2025, 6, 30))
        rows.append((index + 1, name, industry, country, segment, rep[0], created_on))
    return rows


def _gen_products(rng: random.Random) -> list[Row]:
    catalog = [
        (name, category, low, high)
        for category in CATEGORIES
        for name, low, high in _PRODUCT_CATALOG[category]
    ]
    rng.shuffle(catalog)
    rows: list[Row] = []
    for name, category, low, high in catalog:
        raw = rng.uniform(low, high)
        # Round to a "list price": whole tens, minus a cent for cheaper items.
        price = round(raw, -1) if raw >= 1000 else round(raw) - 0.01
        rows.append((len(rows) + 1, name, category, _money(price)))
    return rows


def _order_status(rng: random.Random, order_date: dt.date) -> str:
    age = (ORDERS_LAST_DAY - order_date).days
    if age <= 7:
        weights = (60, 35, 0, 5, 0)
    elif age <= 30:
        weights = (10, 45, 40, 5, 0)
    elif age <= 90:
        weights = (0, 4, 84, 7, 5)
    else:
        weights = (0, 0, 87, 7, 6)
    return rng.choices(STATUSES, weights=weights)[0]


def _gen_orders(rng: random.Random, customers: list[Row]) -> list[Row]:
    # Day weights: business grows over the three years and peaks in each fourth quarter.
    days = [
        ORDERS_FIRST_DAY + dt.timedelta(days=offset)
        for offset in range((ORDERS_LAST_DAY - ORDERS_FIRST_DAY).days + 1)
    ]
    day_weights = [
        (1.0 + 0.6 * index / len(days))
        * (1.3 if day.month >= 10 else 1.0)
        * (0.35 if day.weekday() >= 5 else 1.0)
        for index, day in enumerate(days)
    ]
    day_cum_weights = list(itertools.accumulate(day_weights))
    customer_weights = [
        _SEGMENT_ORDER_WEIGHT[customer[4]] * rng.lognormvariate(0.0, 0.6) for customer in customers
    ]
    picks = rng.choices(customers, weights=customer_weights, k=N_ORDERS)
    drafts: list[tuple[dt.date, int, int]] = []
    for sequence, customer in enumerate(picks):
        created_on: dt.date = customer[6]
        order_date = rng.choices(days, cum_weights=day_cum_weights)[0]
        if order_date < created_on:
            # A customer cannot order before it exists: fall back to a uniform later date.
            order_date = _random_date(rng, max(created_on, ORDERS_FIRST_DAY), ORDERS_LAST_DAY)
        drafts.append((order_date, sequence, customer[0]))
    drafts.sort()  # ids increase with the order date, like a real sequence
    rows: list[Row] = [
        (index + 1, customer_id, order_date, _order_status(rng, order_date))
        for index, (order_date, _, customer_id) in enumerate(drafts)
    ]
    return _ensure_statuses(rng, rows)


def _ensure_statuses(rng: random.Random, orders: list[Row]) -> list[Row]:
    """Guarantee each status occurs; only needed for unlucky seeds."""
    present = {row[3] for row in orders}
    for status in STATUSES:
        if status in present:
            continue
        # Recent orders are the plausible place for 'pending'/'shipped', older ones otherwise.
        pool = orders[-50:] if status in ("pending", "shipped") else orders[: len(orders) // 2]
        victim = rng.choice(pool)
        orders[victim[0] - 1] = (victim[0], victim[1], victim[2], status)
        present = {row[3] for row in orders}
    return orders


def _gen_order_items(
    rng: random.Random, orders: list[Row], customers: list[Row], products: list[Row]
) -> list[Row]:
    segment_of = {customer[0]: customer[4] for customer in customers}
    popularity = list(itertools.accumulate(rng.uniform(0.3, 3.0) for _ in products))
    sizes, size_weights = _ITEMS_PER_ORDER
    rows: list[Row] = []
    for order in orders:
        count = rng.choices(sizes, weights=size_weights)[0]
        chosen: list[Row] = []
        while len(chosen) < count:
            product = rng.choices(products, cum_weights=popularity)[0]
            if product not in chosen:
                chosen.append(product)
        segment = segment_of[order[1]]
        # Prices drift up a little each year; enterprise customers negotiate bigger discounts.
        year_factor = {2023: 0.96, 2024: 0.98}.get(order[2].year, 1.0)
        for product in sorted(chosen):
            low, high = _QUANTITY_RANGE[product[2]]
            quantity = min(rng.randint(low, high), rng.randint(low, high))
            discount = rng.uniform(0.0, _SEGMENT_MAX_DISCOUNT[segment])
            price = _money(float(product[3]) * year_factor * (1.0 - discount))
            rows.append((order[0], product[0], quantity, price))
    return rows


def generate_demo_rows(seed: int = DEFAULT_SEED) -> dict[str, list[Row]]:
    """Generate the demo database's rows deterministically from ``seed``.

    Args:
        seed: Seed for a private :class:`random.Random`; the same seed always gives the same
            rows (for a given :data:`GENERATOR_VERSION`).

    Returns:
        A dict from table name to rows, keys in :data:`TABLES` order; each row is a tuple in
        :data:`COLUMNS` order. Dates are :class:`datetime.date`, prices :class:`Decimal` with
        two decimals.
    """
    rng = random.Random(seed)
    reps = _gen_sales_reps(rng)
    customers = _gen_customers(rng, reps)
    products = _gen_products(rng)
    orders = _gen_orders(rng, customers)
    items = _gen_order_items(rng, orders, customers, products)
    return {
        "sales_reps": reps,
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_items": items,
    }


def _fingerprint(seed: int) -> tuple[int, int]:
    """Return ``(user_version, application_id)`` identifying a database built from ``seed``."""
    user_version = GENERATOR_VERSION * 1_000_000 + seed % 1_000_000
    application_id = zlib.crc32(f"slm-dispatch-demo:{GENERATOR_VERSION}:{seed}".encode())
    return user_version, application_id & 0x7FFFFFFF


def _existing_fingerprint(path: Path) -> tuple[int, int] | None:
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
    if not set(TABLES) <= names:
        return None
    return int(user_version), int(application_id)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _write_sqlite(path: Path, rows: dict[str, list[Row]], fingerprint: tuple[int, int]) -> None:
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


def create_sqlite_db(path: Path, seed: int = DEFAULT_SEED, *, force: bool = False) -> Path:
    """Build the demo SQLite database at ``path``, atomically.

    The file is written next to ``path`` under a temporary name and moved into place with
    :func:`os.replace`, so readers never see a half-built database. The seed and
    :data:`GENERATOR_VERSION` are recorded in ``PRAGMA user_version`` /
    ``PRAGMA application_id`` (no extra table is added to the schema).

    Args:
        path: Where the database file goes; missing parent directories are created.
        seed: Seed passed to :func:`generate_demo_rows`.
        force: Rebuild even if ``path`` already holds the database for this seed and version.

    Returns:
        ``path``.

    Raises:
        DemoDatabaseError: The directory cannot be created or written, or building fails.
    """
    path = Path(path)
    fingerprint = _fingerprint(seed)
    if not force and path.is_file() and _existing_fingerprint(path) == fingerprint:
        logger.debug("demo database %s is up to date (seed %d)", path, seed)
        return path

    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise DemoDatabaseError(
            f"cannot write the demo database in directory {str(directory)!r}: {err.strerror or err}"
        ) from err
    os.close(fd)
    temp_path = Path(temp_name)
    started = time.perf_counter()
    try:
        rows = generate_demo_rows(seed)
        _write_sqlite(temp_path, rows, fingerprint)
        os.replace(temp_path, path)
    except (OSError, sqlite3.Error) as err:
        raise DemoDatabaseError(f"cannot build the demo database at {str(path)!r}: {err}") from err
    finally:
        temp_path.unlink(missing_ok=True)
    logger.info(
        "built demo database %s (seed %d, %d order items) in %.2fs",
        path,
        seed,
        len(rows["order_items"]),
        time.perf_counter() - started,
    )
    return path


def load_postgres(url: str, seed: int = DEFAULT_SEED, *, schema: str = "public") -> None:
    """Load the demo database into PostgreSQL schema ``schema``.

    Creates the schema if it is missing, drops and recreates the five tables there with
    :data:`DDL`, and bulk-loads the same rows as :func:`create_sqlite_db` with ``COPY``,
    all in one transaction.

    Args:
        url: A libpq connection URL (``postgresql://user@host:port/dbname``).
        seed: Seed passed to :func:`generate_demo_rows`.
        schema: Target schema name (an identifier, quoted as needed).

    Raises:
        DemoDatabaseError: Connecting or loading fails.
    """
    import psycopg
    from psycopg import sql

    rows = generate_demo_rows(seed)
    started = time.perf_counter()
    try:
        with psycopg.connect(url, autocommit=False) as conn:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
                cur.execute(
                    "SELECT set_config('search_path', %s, true)",
                    (sql.Identifier(schema).as_string(conn),),
                )
                drop_list = sql.SQL(", ").join(
                    sql.Identifier(schema, table) for table in reversed(TABLES)
                )
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(drop_list))
                cur.execute(DDL.encode())
                for table in TABLES:
                    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                        sql.Identifier(schema, table),
                        sql.SQL(", ").join(sql.Identifier(column) for column in COLUMNS[table]),
                    )
                    with cur.copy(statement) as copy:
                        for row in rows[table]:
                            copy.write_row(row)
                for table in TABLES:
                    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
    except psycopg.Error as err:
        raise DemoDatabaseError(
            f"cannot load the demo database into PostgreSQL schema {schema!r}: {err}"
        ) from err
    logger.info(
        "loaded demo database into PostgreSQL schema %s in %.2fs",
        schema,
        time.perf_counter() - started,
    )
