"""Interoperability with SQLAlchemy-Continuum itself (issue 10 item 6).

The same tables, mapped through Continuum (``make_versioned`` with the TransactionMeta
plugin, a model with ``__versioned__``): (a) Continuum reads the versions syncline wrote;
(b) Continuum writes versions of ORM changes, after which a catch-up has nothing to do and
syncline's next run continues the chain. Continuum never creates a table here: syncline's
``versions enable`` made them, which is the point.

``make_versioned`` is global state: it is called once for this module and removed after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from conftest import VersionsDb
from helpers import (
    DELETE,
    INSERT,
    UPDATE,
    Cli,
    Ledger,
    comments,
    in_process,
    versions,
    versions_of,
)
from syncline import Handler, Importer, IterableSource, Result, RunOptions
from syncline.versions.admin import enable
from syncline.versions.history import record_history

continuum = pytest.importorskip("sqlalchemy_continuum")


@pytest.fixture(scope="module")
def orm() -> Iterator[SimpleNamespace]:
    """The product table as a Continuum-versioned model, and Continuum's classes."""
    from sqlalchemy_continuum import (
        make_versioned,
        remove_versioning,
        version_class,
        versioning_manager,
    )
    from sqlalchemy_continuum.plugins import TransactionMetaPlugin

    make_versioned(user_cls=None, plugins=[TransactionMetaPlugin()])
    try:
        class Base(DeclarativeBase):
            pass

        class Product(Base):
            __tablename__ = "product"
            __versioned__: ClassVar[dict[str, Any]] = {}

            upc: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
            name: Mapped[str | None] = mapped_column(sa.String(100))
            qty: Mapped[int | None] = mapped_column(sa.Integer)
            note: Mapped[str | None] = mapped_column(sa.String(100))

        sa.orm.configure_mappers()
        yield SimpleNamespace(Product=Product, ProductVersion=version_class(Product),
                              manager=versioning_manager)
    finally:
        remove_versioning()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Cli]:
    return in_process(capsys)


@pytest.fixture
def db(versions_db: VersionsDb, orm: SimpleNamespace) -> VersionsDb:
    """The live table as the model declares it (only it: Continuum creates nothing);
    then syncline's ``versions enable``."""
    orm.Product.__table__.create(versions_db.engine)
    assert enable(versions_db.url, ["product"]) == [
        "transaction", "transaction_meta", "product_version"]
    return versions_db


def sync(db: VersionsDb, rows: Sequence[tuple[str, str, int]], **options: Any) -> Result:
    records = [{"upc": u, "name": n, "qty": q} for u, n, q in rows]
    importer = Importer(table="product", key=("upc",), source=IterableSource(records))
    return Handler(target_url=db.url, importers=[importer]).run(
        RunOptions(delete=True, allow_mass_delete=True, **options))


V1 = [("A1", "apple", 1), ("A2", "pear", 2), ("A3", "plum", 3)]
V2 = [("A1", "apple", 1), ("A2", "pear", 20), ("A4", "fig", 4)]


def test_continuum_reads_what_syncline_wrote(db: VersionsDb, orm: SimpleNamespace) -> None:
    tx1 = sync(db, V1, runas="ann", comment="load").transaction_id
    tx2 = sync(db, V2, comment="v2").transaction_id
    assert tx1 is not None and tx2 is not None
    Product, ProductVersion = orm.Product, orm.ProductVersion
    with Session(db.engine) as session:
        pear = session.get(Product, "A2")
        assert pear is not None
        found = pear.versions.all()
        assert [(v.operation_type, v.qty, v.transaction_id, v.end_transaction_id)
                for v in found] == [(INSERT, 2, tx1, tx2), (UPDATE, 20, tx2, None)]
        assert found[1].previous == found[0] and found[0].next == found[1]
        assert found[1].changeset == {"qty": [2, 20]}
        assert found[0].transaction.id == tx1 and found[0].transaction.issued_at is not None
        assert found[0].transaction.meta["comment"] == "load"
        assert found[1].transaction.meta == {"comment": "v2"}

        plum = session.scalars(sa.select(ProductVersion).where(ProductVersion.upc == "A3")
                               .order_by(ProductVersion.transaction_id)).all()
        assert [(v.operation_type, v.name, v.qty) for v in plum] == [
            (INSERT, "plum", 3), (DELETE, "plum", 3)]
        assert plum[1].previous == plum[0]
        fig = session.get(Product, "A4")
        assert fig is not None
        assert [(v.operation_type, v.name) for v in fig.versions] == [(INSERT, "fig")]
        # what a transaction changed, as Continuum sees it
        changed = session.scalars(sa.select(ProductVersion).where(
            ProductVersion.transaction_id == tx2).order_by(ProductVersion.upc)).all()
        assert [(v.upc, v.operation_type) for v in changed] == [
            ("A2", UPDATE), ("A3", DELETE), ("A4", INSERT)]


def test_syncline_continues_what_continuum_wrote(db: VersionsDb, orm: SimpleNamespace,
                                                  cli: Callable[..., Cli]) -> None:
    ledger = Ledger(db)
    tx1 = ledger.record(sync(db, V1))
    assert tx1 is not None
    Product = orm.Product
    # the application changes rows through the ORM; Continuum versions them
    with Session(db.engine) as session:
        uow = orm.manager.unit_of_work(session)
        uow.create_transaction(session).meta = {"comment": "by hand"}  # as Continuum's docs
        apple = session.get(Product, "A1")
        assert apple is not None
        apple.qty = 11
        session.add(Product(upc="A5", name="kiwi", qty=5))
        session.delete(session.get(Product, "A3"))
        session.commit()
    ledger.expected.update({tx1 + 1: {"product": 3}})  # Continuum's transaction
    ledger.check()
    tx2 = tx1 + 1
    assert comments(db) == {tx2: "by hand"}
    assert [(v["operation_type"], v["end_transaction_id"]) for v in versions_of(db, "A3")] == [
        (INSERT, tx2), (DELETE, None)]

    # nothing for a catch-up to do
    check = cli("versions", "catch-up", "--target", db.url, "--check", "--json")
    assert check.code == 0, check.out
    caught = cli("versions", "catch-up", "--target", db.url, "--json")
    assert caught.code == 0 and caught.json["transaction_id"] is None
    model = caught.json["models"]["product"]
    assert (model["created"], model["updated"], model["deleted"], model["unchanged"]) == (
        0, 0, 0, 3)

    # syncline's next run closes Continuum's open versions
    run = sync(db, [("A1", "apple", 12), ("A2", "pear", 2), ("A3", "plum", 3),
                    ("A5", "kiwi", 5)], comment="again")
    tx3 = ledger.record(run)
    assert tx3 == tx2 + 1
    ledger.check()
    assert [(v["operation_type"], v["qty"], v["transaction_id"], v["end_transaction_id"])
            for v in versions_of(db, "A1")] == [
        (INSERT, 1, tx1, tx2), (UPDATE, 11, tx2, tx3), (UPDATE, 12, tx3, None)]
    assert [(v["operation_type"], v["end_transaction_id"]) for v in versions_of(db, "A3")] == [
        (INSERT, tx2), (DELETE, tx3), (INSERT, None)]
    assert [(v.operation, v.comment) for v in record_history(db.url, "product", ["A1"])] == [
        ("insert", None), ("update", "by hand"), ("update", "again")]

    # and Continuum continues syncline's chain in turn
    with Session(db.engine) as session:
        apple = session.get(Product, "A1")
        assert apple is not None
        apple.qty = 13
        session.commit()
        found = apple.versions.all()
        assert [(v.transaction_id, v.end_transaction_id) for v in found] == [
            (tx1, tx2), (tx2, tx3), (tx3, tx3 + 1), (tx3 + 1, None)]
        assert found[3].changeset == {"qty": [12, 13]}
    ledger.expected.update({tx3 + 1: {"product": 1}})
    ledger.check()
    assert len(versions(db)) == 3 + 3 + 2 + 1
