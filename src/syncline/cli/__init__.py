"""The ``syncline`` command: thin commands over the library.

Exit codes (also in ``syncline --help`` and docs/cli.md):

====  =====================================================================
0     success (changes applied, or a dry run that found nothing wrong)
1     error: bad input, bad option value, a database refused the write...
2     usage error: unknown option, missing argument
3     ``--check`` found changes (nothing was written)
4     a guard refused the change set (nothing was written)
5     another run of the same job holds the lock
130   interrupted (Ctrl-C); nothing was written
====  =====================================================================
"""

from syncline.cli.main import main

__all__ = ["main"]
