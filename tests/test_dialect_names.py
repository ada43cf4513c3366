"""Outside ``syncline/targets/``, no code names a database: what differs between databases
is asked of the target's dialect class (targets/dialect.py), never decided by a name.

Every module of the package outside ``targets/`` is parsed; a string literal or a name
(of a variable, function, class, argument or attribute) that names a database or its
driver, or an import of a database's SQLAlchemy dialect, its driver or its dialect module,
fails the test. Docstrings and comments are documentation and may name them (the CLI's
examples, ``sqlite:///shop.db``, are its commands' docstrings).
"""

from __future__ import annotations

import ast
from pathlib import Path

import syncline

PACKAGE = Path(syncline.__file__).parent
TARGETS = PACKAGE / "targets"
NAMES = ("sqlite", "postgres", "mysql", "mariadb", "psycopg", "pymysql")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if TARGETS not in p.parents)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (of the module, classes, functions)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                found.add(id(body[0].value))
    return found


def _names_a_database(text: str) -> bool:
    lowered = text.lower()
    return any(name in lowered for name in NAMES)


def _identifier(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.arg):
        return node.arg
    return None


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    module = node.module or ""
    return [module] + [f"{module}.{alias.name}" for alias in node.names]


def _offences(source: str, where: str) -> list[str]:
    """What in module ``where`` (its ``source``) names a database."""
    tree = ast.parse(source, filename=where)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings and _names_a_database(node.value)):
            found.append(f"{where}:{node.lineno}: string {node.value!r}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for name in _imported(node):
                if name.startswith("sqlalchemy.dialects") or _names_a_database(name):
                    found.append(f"{where}:{node.lineno}: import of {name}")
        else:
            name = _identifier(node)
            if name is not None and _names_a_database(name):
                found.append(f"{where}:{getattr(node, 'lineno', '?')}: name {name}")
    return found


def test_no_code_outside_targets_names_a_database() -> None:
    assert PACKAGE / "types.py" in _modules()
    offences = [offence for path in _modules() for offence in
                _offences(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix())]
    assert not offences, "\n".join(offences)


def test_the_check_sees_what_it_looks_for() -> None:
    """Strings, an f-string's part, names and imports are found; docstrings are not."""
    source = ('"""Mentions SQLite freely."""\n'
              "import pymysql\n"
              "from sqlalchemy.dialects import postgresql\n"
              "def f(name, is_mysql):\n"
              '    """PostgreSQL too."""\n'
              '    return name == "mariadb" or f"{name}+psycopg" or x.sqlite_file\n')
    assert sorted(_offences(source, "probe.py")) == [
        "probe.py:2: import of pymysql",
        "probe.py:3: import of sqlalchemy.dialects",
        "probe.py:3: import of sqlalchemy.dialects.postgresql",
        "probe.py:4: name is_mysql",
        "probe.py:6: name sqlite_file",
        "probe.py:6: string '+psycopg'",
        "probe.py:6: string 'mariadb'",
    ]
