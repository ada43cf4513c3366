"""Sources: one module per kind of system records are read from (sql, csv, ...)."""
