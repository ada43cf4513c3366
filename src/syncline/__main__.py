"""``python -m syncline``: the same as the ``syncline`` command."""

from syncline.cli import main

main()
