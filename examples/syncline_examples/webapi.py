"""A :class:`syncline.Target` that is a web API: one request per change (docs/exporters.md).

The API holds records by key::

    GET    {base}/records          -> a JSON list of every record (objects)
    PUT    {base}/records/{key}    -> create or replace the record of that key (idempotent)
    DELETE {base}/records/{key}    -> delete it; 404 means already gone (idempotent)

A request that gets 429 or a 5xx answer, or no answer, is retried with exponential
backoff (``Retry-After`` is honoured, up to ``max_wait``); any other 4xx fails at once.

Such a target **cannot roll back**: a request that succeeded stays done. When a run fails
part-way, it raises :class:`syncline.PartlyAppliedError` whose ``applied`` lists exactly
the keys created, updated and deleted; every change is idempotent, so running again sends
only what is still different and converges.

    from syncline import Importer, RunOptions, SqlSource, TargetHandler
    from syncline_examples.webapi import WebApiTarget

    importer = Importer(table="products", key=("upc",),
                        source=SqlSource("sqlite:///shop.db", table="products"))
    TargetHandler(importer, WebApiTarget("http://localhost:8000")).run(RunOptions(delete=True))
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as time_of_day
from typing import Any
from urllib.parse import quote

from syncline import Applied, ChangeSet, TargetCapabilities, TargetError, TargetModel

#: answers worth another try
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    return str(value)  # Decimal exactly, as text


class WebApiTarget:
    """The records of one model behind a JSON API (see the module's docstring)."""

    capabilities = TargetCapabilities(can_rollback=False)

    def __init__(self, base_url: str, *, attempts: int = 5, backoff: float = 0.2,
                 max_wait: float = 10.0, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = self.base_url
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self._model: TargetModel | None = None

    # -- the Target protocol ------------------------------------------------------------
    def open(self, model: TargetModel) -> None:
        self._model = model

    def read(self) -> Iterator[tuple[Any, ...]]:
        model = self._require_model()
        records = json.loads(self._request("GET", "/records") or b"[]")
        coercers = model.coercers()
        for record in records:
            yield tuple(c(record.get(f)) for c, f in zip(coercers, model.fields, strict=True))

    def begin(self) -> None:
        """Nothing: every request stands on its own."""

    def apply(self, changes: ChangeSet, applied: Applied) -> None:
        fields = self._require_model().fields
        for create in changes.creates:
            self._put(create.key, dict(zip(fields, create.values, strict=True)))
            applied.created.append(create.key)
        for update in changes.updates:
            self._put(update.key, dict(zip(fields, update.new_values, strict=True)))
            applied.updated.append(update.key)
        for delete in changes.deletes:
            self._request("DELETE", self._path(delete.key), missing_ok=True)
            applied.deleted.append(delete.key)

    def commit(self) -> None:
        """Nothing: each change was done when its request succeeded."""

    def rollback(self) -> None:
        """Nothing can be undone (``capabilities.can_rollback`` is False)."""

    def close(self) -> None:
        """No connection is held between requests."""

    # -- requests -----------------------------------------------------------------------
    def _require_model(self) -> TargetModel:
        if self._model is None:
            raise TargetError(f"{self.name}: open(model) comes first")
        return self._model

    def _path(self, key: tuple[Any, ...]) -> str:
        return "/records/" + "/".join(quote(str(_json_value(p)), safe="") for p in key)

    def _put(self, key: tuple[Any, ...], record: dict[str, Any]) -> None:
        body = json.dumps({f: _json_value(v) for f, v in record.items()}).encode("utf-8")
        self._request("PUT", self._path(key), body)

    def _request(self, method: str, path: str, body: bytes | None = None, *,
                 missing_ok: bool = False) -> bytes:
        """One request, retried on 429/5xx or no answer; a TargetError when it fails."""
        url = self.base_url + path
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(url, data=body, method=method,
                                             headers={"Content-Type": "application/json"})
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    data: bytes = answer.read()
                    return data
            except urllib.error.HTTPError as exc:
                after = exc.headers.get("Retry-After")
                exc.close()
                if exc.code == 404 and missing_ok:
                    return b""
                if exc.code not in RETRY_STATUS or attempt == self.attempts:
                    raise TargetError(f"{method} {url} failed: HTTP {exc.code} {exc.reason}",
                                      code=exc.code) from exc
                if after and after.isdigit():
                    wait = float(after)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.attempts:
                    raise TargetError(f"{method} {url} failed: {exc}") from exc
            time.sleep(min(wait, self.max_wait))
        raise AssertionError("unreachable")  # pragma: no cover
