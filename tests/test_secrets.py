"""Passwords are never printed: RELIABILITY.md row 31 (issue 7 item 10).

Every credential form SQLAlchemy and the drivers accept — userinfo, ``password=``,
``sslpassword=``, ``passwd=`` in the query — is masked in the error line, in ``--json``
and under ``--traceback`` (whose text includes driver messages).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from conftest import POSTGRES_URL, driver_url
from helpers import PRODUCT_HEADER, products, run_cli, write_csv

SECRET = "Tr0ub4dor-s3cret"


def test_passwords_never_printed(pg_engine: sa.Engine, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "items.csv", PRODUCT_HEADER, products(3))
    base = sa.engine.make_url(driver_url(POSTGRES_URL))
    host = f"{base.host}:{base.port or 5432}"
    urls = [
        f"postgresql://{base.username}@{host}/{base.database}?password={SECRET}",
        f"postgresql://{base.username}:{SECRET}@{host}/{base.database}",
        f"postgresql://{base.username}@{host}/{base.database}?sslpassword={SECRET}",
        f"postgresql://{base.username}@{host}/{base.database}?PASSWORD={SECRET}&x=1",
        f"postgresql://{base.username}@{host}/{base.database}?password={SECRET}&bogus=1",
        f"postgresql://{base.username}:{SECRET}@127.0.0.1:1/nowhere",  # cannot connect
        f"mysql+pymysql://root@127.0.0.1:1/test?passwd={SECRET}",
        f"postgresql://{base.username}:{SECRET}@{host}:notaport/db",  # unparsable
    ]
    seen = []
    for i, url in enumerate(urls):
        # --traceback --json shows all three outputs at once: the traceback (driver
        # messages included), the Error line and the JSON object; alternate plain runs
        before = ["--traceback"] if i % 2 == 0 else []
        proc = run_cli(*before, "sync", str(source), url, "--table", "no_such_table",
                       "--key", "upc", "--json")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert SECRET not in out, f"{url} {before}:\n{out}"
        assert "Error: " in proc.stderr and proc.stdout.count("\n") == 1, out
        seen.append(out)
    for url in urls[:2]:  # as the source too
        proc = run_cli("--traceback", "sync", url, "sqlite:///" + str(tmp_path / "t.db"),
                       "--table", "t", "--key", "upc", "--source-table", "t", "--json")
        assert SECRET not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert any("Traceback" in out for out in seen)  # the traceback was shown, masked


def test_mask_url_hides_every_credential_form() -> None:
    """The one masking function, on the forms a user may write (no server needed)."""
    from syncline.masking import mask_text, mask_url, remember_url

    cases = {
        "postgresql://u:p@ss-word@host/db": "postgresql://u:***@host/db",
        "postgresql://u:p%40ss-word@host/db": "postgresql://u:***@host/db",
        "postgresql://u@h/db?password=pw-one&application_name=x":
            "postgresql://u@h/db?application_name=x&password=***",
        "postgresql://u@h/db?sslpassword=pw-two": "postgresql://u@h/db?sslpassword=***",
        "mysql+pymysql://root@h/db?passwd=pw-three": "mysql+pymysql://root@h/db?passwd=***",
        "sqlite:///x.db": "sqlite:///x.db",
    }
    for url, masked in cases.items():
        assert mask_url(url) == masked, url
    remember_url("postgresql://u:quoted-secret@h/db")
    text = "FATAL: password='quoted-secret' for quoted-secret, user u@example.com"
    assert mask_text(text) == "FATAL: password=*** for ***, user u@example.com"
