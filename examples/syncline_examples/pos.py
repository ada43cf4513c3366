"""Point of sale -> back office: three models, parents first.

The POS (the source, a SQLite file built by ``examples/build_pos.py``) names things its
own way::

    dept   (dept_no, name)                        names in upper case
    vendor (vendor_id, name, phone)
    item   (upc, descr, price, dept_no, vendor_id, active_flag)
                                                  descr in upper case, price is text
                                                  ("1.99"), active_flag 'Y'/'N' or blank

The back office (the target) has ``department``, ``vendor`` and ``product``; products
reference departments and vendors by foreign key. So the importers are listed parents
first: the handler creates and updates in this order and deletes in reverse.

Each importer's ``source_query`` selects the POS columns AS the back office's names;
``normalize_source`` is only for real normalization. Types need no code: the price text
becomes a ``Decimal`` of the target's ``numeric(10,2)``, the ids become integers.

Run it from the repository root (the databases live in ``$SYNCLINE_EXAMPLE_DIR``,
default ``./examples/work``)::

    python examples/build_pos.py
    syncline import pos-example --dry-run
    syncline import pos-example
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

from syncline import Handler, Importer

#: where build_pos.py puts the two databases
WORK_DIR = Path(os.environ.get("SYNCLINE_EXAMPLE_DIR", "examples/work")).resolve()


def _title(text: str | None) -> str | None:
    """'FROZEN FOODS' -> 'Frozen Foods': the POS prints receipts in upper case."""
    return string.capwords(text) if text is not None else None


class DepartmentImporter(Importer):
    table = "department"
    key = ("id",)
    source_query = "SELECT dept_no AS id, name FROM dept"

    def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
        record["name"] = _title(record["name"])
        return record


class VendorImporter(Importer):
    # no hook: the fields are the target's columns that the query offers
    table = "vendor"
    key = ("id",)
    source_query = "SELECT vendor_id AS id, name, phone FROM vendor"


class ProductImporter(Importer):
    table = "product"
    key = ("upc",)
    source_query = """
        SELECT upc, descr AS description, price, dept_no AS department_id, vendor_id,
               active_flag AS active
        FROM item
    """

    def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
        record["description"] = _title(record["description"])
        # items older than the flag have it blank: they are active unless marked 'N'
        record["active"] = (record["active"] or "Y").strip().upper() != "N"
        return record


class PosToBackOffice(Handler):
    """Keep the back office's departments, vendors and products in step with the POS."""

    name = "pos-example"
    importers = (DepartmentImporter, VendorImporter, ProductImporter)
    source_url = f"sqlite:///{WORK_DIR / 'pos.db'}"
    target_url = f"sqlite:///{WORK_DIR / 'backoffice.db'}"
