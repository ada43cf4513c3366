"""Credentials are never printed: one place that masks them (RELIABILITY.md row 31).

:func:`mask_url` hides every credential form a SQLAlchemy URL can carry: the userinfo
password (``user:secret@host``) and query parameters the drivers read as credentials
(``password``, ``sslpassword``, ``passwd``, ``pwd``, and any name with ``pass``, ``secret``,
``token``, ``api_key`` or ``access_key`` in it). Driver messages and tracebacks may quote
a URL or a piece of a DSN, so every text syncline prints goes through :func:`mask_text`:
it masks those forms where they appear and also every secret value seen in a URL of this
process (:func:`remember_url` — the command line registers its arguments before anything runs).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"

#: query parameter names that carry a credential (matched case-insensitively, anywhere)
_SECRET_NAME = r"[\w.-]*(?:pass|pwd|secret|token|api_?key|access_?key)[\w.-]*"
_SECRET_PARAM = re.compile(rf"^{_SECRET_NAME}$", re.IGNORECASE)
#: ``scheme://user:secret@`` in any text
#: (the secret runs to the LAST ``@`` before the host: ``u:p@ss@host`` hides ``p@ss``)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^\s/:@'\"]*:)(?P<secret>[^\s'\"/]+)(?=@)")
#: ``password=secret`` (URL query or libpq DSN: ``password='sec ret'``)
_PARAM = re.compile(rf"(?P<head>\b{_SECRET_NAME}\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&;,'\"]+)",
                    re.IGNORECASE)

_known: set[str] = set()


def is_secret_parameter(name: str) -> bool:
    """Whether a URL query parameter carries a credential."""
    return bool(_SECRET_PARAM.match(name))


def remember(secret: str) -> None:
    """A value that must never be printed, in every spelling it may be printed in."""
    if len(secret) < 2 or secret == MASK:
        return
    _known.update({secret, quote(secret, safe=""), quote(secret), json.dumps(secret)[1:-1],
                   repr(secret)[1:-1]})


def remember_url(url: Any) -> None:
    """Remember the secrets of a URL (a string or a SQLAlchemy URL), however malformed."""
    text = url.render_as_string(hide_password=False) if hasattr(url, "render_as_string") \
        else str(url)
    for pattern in (_USERINFO, _PARAM):
        for found in pattern.finditer(text):
            secret = found.group("secret").strip("'")
            remember(secret)
            remember(unquote(secret))
    password = getattr(url, "password", None)
    if password:
        remember(str(password))


def mask_url(url: Any) -> str:
    """A URL safe to print: every credential in it shown as ``***``."""
    import sqlalchemy as sa

    remember_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return mask_text(str(url))
    if parsed.password is not None:
        parsed = parsed.set(password=MASK)
    parsed = parsed.set(query={k: (MASK if is_secret_parameter(k) else v)
                               for k, v in parsed.query.items()})
    rendered = parsed.render_as_string(hide_password=False).replace(quote(MASK, safe=""), MASK)
    return mask_text(rendered)  # ``u:p@ss@host``: SQLAlchemy's password stops at the first @


def mask_text(text: str) -> str:
    """Text safe to print: URL and DSN credentials, and every remembered secret, masked."""
    text = _USERINFO.sub(lambda m: m.group("head") + MASK, text)
    text = _PARAM.sub(lambda m: m.group("head") + MASK, text)
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
