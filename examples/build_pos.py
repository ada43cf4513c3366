"""Build the sample databases of the point-of-sale example (see examples/demo.sh).

    python examples/build_pos.py              # a fresh POS database and an EMPTY back office
    python examples/build_pos.py --edit       # change one price in the POS, for a re-sync

Both are SQLite files in --dir (default: $SYNCLINE_EXAMPLE_DIR, else ./examples/work), the
place where ``syncline import pos-example`` looks for them. The data is the same on every
run (a seeded random generator): 5 departments, 8 vendors, 2,000 items.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
from pathlib import Path

POS_SCHEMA = """
CREATE TABLE dept (
    dept_no     INTEGER PRIMARY KEY,
    name        VARCHAR(30) NOT NULL          -- upper case, as printed on receipts
);
CREATE TABLE vendor (
    vendor_id   INTEGER PRIMARY KEY,
    name        VARCHAR(60) NOT NULL,
    phone       VARCHAR(20)
);
CREATE TABLE item (
    upc         VARCHAR(12) PRIMARY KEY,
    descr       VARCHAR(40) NOT NULL,         -- upper case
    price       VARCHAR(10) NOT NULL,         -- text: '1.99'
    dept_no     INTEGER NOT NULL REFERENCES dept (dept_no),
    vendor_id   INTEGER REFERENCES vendor (vendor_id),
    active_flag CHAR(1)                       -- 'Y', 'N', or blank on old items
);
"""

BACKOFFICE_SCHEMA = """
CREATE TABLE department (
    id            INTEGER PRIMARY KEY,
    name          VARCHAR(50) NOT NULL
);
CREATE TABLE vendor (
    id            INTEGER PRIMARY KEY,
    name          VARCHAR(100) NOT NULL,
    phone         VARCHAR(20)
);
CREATE TABLE product (
    upc           VARCHAR(14) PRIMARY KEY,
    description   VARCHAR(100) NOT NULL,
    price         NUMERIC(10, 2) NOT NULL,
    department_id INTEGER NOT NULL REFERENCES department (id),
    vendor_id     INTEGER REFERENCES vendor (id),
    active        BOOLEAN NOT NULL DEFAULT TRUE
);
"""

DEPARTMENTS = {10: "GROCERY", 20: "DAIRY", 30: "FROZEN FOODS", 40: "PRODUCE", 50: "HEALTH & BEAUTY"}
VENDORS = [
    "Acme Wholesale", "Blue Ridge Dairy Co", "Northwind Traders", "Green Valley Farms",
    "Polar Foods Inc", "Sunrise Bakery", "Coastal Distributors", "Pure Care Supply",
]
WORDS = {
    10: (["ORGANIC", "CLASSIC", "WHOLE GRAIN", "LOW SODIUM", "FAMILY SIZE"],
         ["PASTA", "RICE", "CEREAL", "PEANUT BUTTER", "TOMATO SAUCE", "CRACKERS", "COFFEE"]),
    20: (["WHOLE", "2%", "GREEK", "SHARP", "UNSALTED"],
         ["MILK", "YOGURT", "CHEDDAR", "BUTTER", "CREAM CHEESE", "SOUR CREAM"]),
    30: (["FROZEN", "DELUXE", "THIN CRUST", "VEGGIE", "MINI"],
         ["PIZZA", "PEAS", "WAFFLES", "ICE CREAM", "BURRITOS", "FRIES"]),
    40: (["FRESH", "RED", "BABY", "SWEET", "ORGANIC"],
         ["APPLES", "CARROTS", "SPINACH", "ONIONS", "GRAPES", "POTATOES"]),
    50: (["GENTLE", "FRESH MINT", "UNSCENTED", "DAILY", "EXTRA STRENGTH"],
         ["SHAMPOO", "TOOTHPASTE", "SOAP", "LOTION", "VITAMINS", "DEODORANT"]),
}
SIZES = ["8OZ", "12OZ", "16OZ", "1LB", "2LB", "32OZ", "1GAL", "6CT", "12CT"]
ITEMS = 2_000


def upc_a(number: int) -> str:
    """A 12-digit UPC-A code: 11 digits and the check digit."""
    digits = f"{number:011d}"
    odd = sum(int(d) for d in digits[0::2])
    even = sum(int(d) for d in digits[1::2])
    return digits + str((10 - (odd * 3 + even) % 10) % 10)


def build(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".gitignore").write_text("*\n")  # generated files, never committed
    pos_path, office_path = directory / "pos.db", directory / "backoffice.db"
    for path in (pos_path, office_path):
        path.unlink(missing_ok=True)
    rng = random.Random(2024)
    with sqlite3.connect(pos_path) as pos:
        pos.executescript(POS_SCHEMA)
        pos.executemany("INSERT INTO dept VALUES (?, ?)", DEPARTMENTS.items())
        pos.executemany("INSERT INTO vendor VALUES (?, ?, ?)", [
            (i, name, f"555-01{i:02d}") for i, name in enumerate(VENDORS, start=1)])
        items, seen = [], set()
        while len(items) < ITEMS:
            dept = rng.choice(list(DEPARTMENTS))
            upc = upc_a(rng.randrange(10_000_000_000, 99_999_999_999))
            if upc in seen:
                continue
            seen.add(upc)
            adjectives, nouns = WORDS[dept]
            descr = f"{rng.choice(adjectives)} {rng.choice(nouns)} {rng.choice(SIZES)}"
            price = f"{rng.randrange(49, 2_000) / 100:.2f}"
            vendor = None if rng.random() < 0.05 else rng.randrange(1, len(VENDORS) + 1)
            active = rng.choices(["Y", "N", "", None], weights=[85, 8, 5, 2])[0]
            items.append((upc, descr, price, dept, vendor, active))
        pos.executemany("INSERT INTO item VALUES (?, ?, ?, ?, ?, ?)", items)
    with sqlite3.connect(office_path) as office:
        office.executescript(BACKOFFICE_SCHEMA)
    print(f"built {pos_path} ({len(DEPARTMENTS)} departments, {len(VENDORS)} vendors,"
          f" {ITEMS} items) and an empty {office_path}")


def edit(directory: Path) -> None:
    """Raise the price of the first item (by UPC) by 10 cents: one change to re-sync."""
    pos_path = directory / "pos.db"
    if not pos_path.exists():
        raise SystemExit(f"error: {pos_path} does not exist; run build_pos.py first")
    with sqlite3.connect(pos_path) as pos:
        upc, price = pos.execute("SELECT upc, price FROM item ORDER BY upc LIMIT 1").fetchone()
        new_price = f"{(int(price.replace('.', '')) + 10) / 100:.2f}"
        pos.execute("UPDATE item SET price = ? WHERE upc = ?", (new_price, upc))
    print(f"POS: item {upc} now costs {new_price} (was {price})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path,
                        default=Path(os.environ.get("SYNCLINE_EXAMPLE_DIR", "examples/work")),
                        help="where the databases go (default: $SYNCLINE_EXAMPLE_DIR,"
                             " else ./examples/work)")
    parser.add_argument("--edit", action="store_true",
                        help="change one item's price in the existing POS database")
    args = parser.parse_args()
    if args.edit:
        edit(args.dir)
    else:
        build(args.dir)


if __name__ == "__main__":
    main()
