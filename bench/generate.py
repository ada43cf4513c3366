"""Deterministic data for the syncline benchmark: the ``products`` table as v1.csv and v2.csv.

v1 holds N rows in a shuffled (not key-sorted) order, like a real export. v2 is v1 with
1% of the rows having exactly one field changed (the field rotates: description, price,
department, active), 0.5% of the rows removed and 0.5% new rows appended. The generator
knows exactly how many creates, updates and deletes a correct sync of v2 over v1 makes.

    python bench/generate.py --rows 1000000 --out /tmp/syncline-bench/data [--seed 42]

Files are rewritten only when ``meta.json`` in the output folder does not match the
requested N, seed and generator version.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

GENERATOR_VERSION = 1
HEADER = ("upc", "description", "price", "department", "active")
COLUMNS_SQL = (
    "upc varchar(32) primary key, description varchar(200), price numeric(10,2), "
    "department integer, active boolean"
)
CHANGED_FIELDS = ("description", "price", "department", "active")

# Words with the things a real export has: commas, double quotes, non-ASCII letters.
_ADJECTIVES = (
    "Red",
    "Blue",
    "Green",
    "Large",
    "Small",
    "Organic",
    "Fresh",
    "Frozen",
    "Classic",
    "Deluxe",
    "Mini",
    "Family",
    "Crème",
    "Jalapeño",
    "Light",
    "Smoked",
    "Spicy, hot",
    "Sweet",
    "Whole",
    "Roasted",
    "Extra",
    "Café",
    "Premium",
    "Value",
)
_NOUNS = (
    "Apples",
    "Bananas",
    "Coffee",
    "Tea",
    'Bolts 3/8"',
    "Nails",
    "Soap",
    "Shampoo",
    "Bread",
    "Milk",
    "Cheese",
    "Yogurt",
    "Chips",
    "Salsa",
    "Pasta",
    "Rice",
    "Beans",
    "Tuna",
    "Cookies",
    "Crackers",
    "Juice",
    "Water",
    "Soda",
    "Candles",
    "Batteries",
    "Tape",
    "Glue",
    "Paper towels",
    "Napkins",
    '"Best" gum',
)
_SIZES = ("8 oz", "12 oz", "16 oz", "1 lb", "2 lb", "500 g", "1 kg", "6 ct", "12 ct", "1 gal")


@dataclass(frozen=True)
class Expected:
    """What a correct sync does: row counts of both files and the change counts of v2."""

    rows: int
    seed: int
    v1_rows: int
    v2_rows: int
    created: int
    updated: int
    deleted: int
    generator_version: int = GENERATOR_VERSION

    @property
    def unchanged(self) -> int:
        """Rows of v1 that v2 leaves as they are."""
        return self.v1_rows - self.updated - self.deleted


def change_counts(rows: int) -> tuple[int, int, int]:
    """(updated, created, deleted) for N rows: 1%, 0.5%, 0.5%, at least one of each."""
    return max(1, rows // 100), max(1, rows // 200), max(1, rows // 200)


def _csv_field(value: str) -> str:
    """``value`` as one CSV field (RFC 4180 quoting, as the csv module does)."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_unfield(field: str) -> str:
    if field.startswith('"'):
        return field[1:-1].replace('""', '"')
    return field


# Rows are tuples of ready-to-write CSV fields; values come from tables picked by one
# 64-bit draw per row (pure Python is slow: one randrange per field costs 4x more).
_DESCRIPTIONS = [_csv_field(f"{a} {n} {s}") for a in _ADJECTIVES for n in _NOUNS for s in _SIZES]
_PRICES = [f"{cents // 100}.{cents % 100:02d}" for cents in range(100_000)]
_DEPARTMENTS = [str(d) for d in range(51)]

Row = tuple[str, str, str, str, str]


def _make_rows(rng: random.Random, keys: list[int]) -> list[Row]:
    n_desc = len(_DESCRIPTIONS)
    rows = []
    append = rows.append
    for key in keys:
        bits = rng.getrandbits(64)
        description = _DESCRIPTIONS[bits % n_desc]
        bits //= n_desc
        price = _PRICES[1 + bits % 99_999]
        bits //= 99_999
        department = _DEPARTMENTS[1 + bits % 50]
        bits //= 50
        append((f"{key:012d}", description, price, department, "0" if bits % 10 == 0 else "1"))
    return rows


def _change(row: Row, field: str, rng: random.Random) -> Row:
    """A copy of ``row`` with exactly ``field`` changed to a different value."""
    upc, description, price, department, active = row
    if field == "description":
        description = _csv_field(_csv_unfield(description) + " (new)")
    elif field == "price":
        whole, cents = price.split(".")
        new_cents = int(whole) * 100 + int(cents) + rng.randrange(1, 500)
        price = f"{new_cents // 100}.{new_cents % 100:02d}"
    elif field == "department":
        department = str(int(department) % 50 + 1)
    else:
        active = "0" if active == "1" else "1"
    return (upc, description, price, department, active)


def _write_csv(path: Path, rows: list[Row]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\n")
        for start in range(0, len(rows), 100_000):
            f.write("".join([",".join(row) + "\n" for row in rows[start : start + 100_000]]))
    tmp.replace(path)


def generate(rows: int, out: Path, seed: int = 42, *, force: bool = False) -> Expected:
    """Write ``out/v1.csv`` and ``out/v2.csv`` (unless already there for N and seed)."""
    if rows < 10:
        raise ValueError("need at least 10 rows")
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "meta.json"
    if not force and meta_path.exists() and (out / "v1.csv").exists() and (out / "v2.csv").exists():
        try:
            meta = Expected(**json.loads(meta_path.read_text()))
        except (TypeError, ValueError):
            meta = None
        wanted = (rows, seed, GENERATOR_VERSION)
        if meta and (meta.rows, meta.seed, meta.generator_version) == wanted:
            return meta

    rng = random.Random(seed)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small tuples, no cycles: the collector only costs time
    try:
        return _generate(rows, out, seed, rng)
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(rows: int, out: Path, seed: int, rng: random.Random) -> Expected:
    n_updated, n_created, n_deleted = change_counts(rows)
    # Unique random keys in random order: v1's rows, then the rows v2 adds.
    keys = rng.sample(range(10**12), rows + n_created)
    v1 = _make_rows(rng, keys[:rows])

    picked = rng.sample(range(rows), n_deleted + n_updated)
    deleted = set(picked[:n_deleted])
    v2_rows = list(v1)
    for i, index in enumerate(picked[n_deleted:]):
        v2_rows[index] = _change(v1[index], CHANGED_FIELDS[i % len(CHANGED_FIELDS)], rng)
    v2 = [row for index, row in enumerate(v2_rows) if index not in deleted]
    v2.extend(_make_rows(rng, keys[rows:]))

    _write_csv(out / "v1.csv", v1)
    _write_csv(out / "v2.csv", v2)
    meta = Expected(
        rows=rows,
        seed=seed,
        v1_rows=len(v1),
        v2_rows=len(v2),
        created=n_created,
        updated=n_updated,
        deleted=n_deleted,
    )
    (out / "meta.json").write_text(json.dumps(asdict(meta), indent=2) + "\n")
    return meta


def load_csv_postgres(csv_path: Path, url: str, table: str) -> None:
    """(Re)create ``table`` in PostgreSQL and fill it from ``csv_path`` with COPY.

    This is the benchmark's SQL *source*. ``url`` may be a libpq or SQLAlchemy URL.
    """
    import psycopg  # a dependency of syncline; imported here so the generator runs without it

    conninfo = libpq_url(url)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute(f'DROP TABLE IF EXISTS "{table}"')
        cur.execute(f'CREATE TABLE "{table}" ({COLUMNS_SQL})')
        copy_sql = f"COPY \"{table}\" FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8')"
        with csv_path.open("rb") as f, cur.copy(copy_sql) as copy:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        cur.execute(f'ANALYZE "{table}"')


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` → ``postgresql://…`` (what psql and psycopg accept)."""
    scheme, rest = url.split("://", 1)
    return scheme.split("+", 1)[0] + "://" + rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True, help="rows in v1.csv")
    parser.add_argument("--out", type=Path, required=True, help="folder for v1.csv, v2.csv")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--force", action="store_true", help="rewrite even if present")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    meta = generate(args.rows, args.out, args.seed, force=args.force)
    print(json.dumps(asdict(meta) | {"unchanged": meta.unchanged}))
    print(f"{args.out}: generated in {time.perf_counter() - start:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
