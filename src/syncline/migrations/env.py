"""Alembic's environment for syncline's own branch, when no project has a folder of its own.

Run by ``syncline db``, which gives it the target database (see
:func:`syncline.project.migrations.run_environment`).
"""

from syncline.project.migrations import run_environment

run_environment()
