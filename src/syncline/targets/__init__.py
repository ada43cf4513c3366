"""Targets: where a run writes — SQL databases through SQLAlchemy Core.

``sql.py`` is the target and its session (one connection, one transaction); ``staging.py``
the in-database engine's stage; ``dialect.py`` what a database does differently, with one
class per database (``sqlite.py``, ``postgresql.py``, ``mysql.py``) picked by
``registry.py``.
"""
