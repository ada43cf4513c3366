"""syncline's own revisions (branch ``syncline``); Alembic reads them by path."""
