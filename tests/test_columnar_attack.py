"""Attacks on the columnar path (docs/engines.md, "The columnar path"): cases where it
must behave exactly as the row path does, and as RELIABILITY.md expects."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from syncline import CsvSource, Handler, Importer, RunOptions


def _csv(path: Path, rows: int) -> Path:
    path.write_text("k,n\n" + "".join(f"k{i},{i}\n" for i in range(rows)), encoding="utf-8")
    return path


def test_a_handler_with_several_csv_importers_on_sqlite(tmp_path: Path) -> None:
    """Every importer of one run stages through the same scratch database. The ADBC driver
    links its own copy of SQLite, whose locks the run's connection does not see: once the
    run's connection has read the scratch file (the first importer's stage), a table the
    driver adds for the second importer is not in the run's cached schema ("no such table:
    syncline_scratch.syncline_load_..."), and the whole run failed."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.begin() as conn:
        for i in range(3):
            conn.exec_driver_sql(f"CREATE TABLE t{i} (k TEXT PRIMARY KEY, n INTEGER)")
    importers = [Importer(table=f"t{i}", key=("k",),
                          source=CsvSource(_csv(tmp_path / f"s{i}.csv", 50 + i)))
                 for i in range(3)]
    result = Handler(target_url=engine, importers=importers).run(  # type: ignore[arg-type]
        RunOptions(engine="database"))
    assert {name: model.created for name, model in result.models.items()} == {
        "t0": 50, "t1": 51, "t2": 52}
    with engine.connect() as conn:
        assert [conn.exec_driver_sql(f"SELECT count(*) FROM t{i}").scalar() for i in
                range(3)] == [50, 51, 52]
        attached = [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")]
        assert "syncline_scratch" not in attached
    engine.dispose()
