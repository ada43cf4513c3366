"""Helpers shared by the end-to-end tests: run the CLI, write CSVs, read tables back."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

PRODUCT_HEADER = ["upc", "description", "price", "department", "active"]


def run_cli(*args: str, check: bool | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``syncline ARGS`` in a child process, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "syncline", *args], capture_output=True,
                          text=True, timeout=300, env=env)
    if check is True and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


def run_json(*args: str, expect: int = 0) -> dict[str, Any]:
    proc = run_cli(*args, "--json")
    assert proc.returncode == expect, f"exit {proc.returncode}: {proc.stderr}\n{proc.stdout}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    data: dict[str, Any] = json.loads(lines[0])
    return data


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def products(n: int, seed: int = 1) -> list[list[str]]:
    """n product rows as CSV text: upc, description, price, department, active (1/0)."""
    rnd = random.Random(seed)
    return [
        [f"{i:012d}", f"Product {i} {rnd.choice(['red', 'blue', 'big'])}",
         f"{rnd.randint(1, 99999) / 100:.2f}", str(rnd.randint(1, 50)), rnd.choice("10")]
        for i in range(n)
    ]


def edit_products(rows: list[list[str]], seed: int = 2) -> tuple[list[list[str]], dict[str, int]]:
    """v2 of ``rows``: 1% with one field changed, 0.5% removed, 0.5% added."""
    rnd = random.Random(seed)
    n = len(rows)
    out = [list(r) for r in rows]
    order = list(range(n))
    rnd.shuffle(order)
    n_upd, n_del = n // 100, n // 200
    for j, i in enumerate(order[:n_upd]):
        field = 1 + j % 4
        row = out[i]
        if field == 1:
            row[1] = row[1] + " (new)"
        elif field == 2:
            row[2] = f"{Decimal(row[2]) + Decimal('1.01'):.2f}"
        elif field == 3:
            row[3] = str(int(row[3]) % 50 + 1)
        else:
            row[4] = "0" if row[4] == "1" else "1"
    removed = set(order[n_upd:n_upd + n_del])
    out = [r for i, r in enumerate(out) if i not in removed]
    n_new = n // 200
    out += [[f"{n + i:012d}", f"New {i}", "1.00", "1", "1"] for i in range(n_new)]
    return out, {"updated": n_upd, "deleted": n_del, "created": n_new}


def create_products_table(engine: sa.Engine, name: str) -> None:
    sa.Table(
        name, sa.MetaData(),
        sa.Column("upc", sa.String(32), primary_key=True),
        sa.Column("description", sa.String(200)),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("department", sa.Integer),
        sa.Column("active", sa.Boolean),
    ).create(engine)


def table_rows(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    """The table's rows in key order as (upc, description, price, department, active)."""
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.upc)).all()
    return [(r[0], r[1], Decimal(str(r[2])).quantize(Decimal("0.01")), int(r[3]), bool(r[4]))
            for r in rows]


def csv_rows(rows: list[list[str]]) -> list[tuple[Any, ...]]:
    return sorted((r[0], r[1], Decimal(r[2]), int(r[3]), r[4] == "1") for r in rows)
