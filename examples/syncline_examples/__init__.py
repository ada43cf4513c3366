"""Runnable syncline examples, installed with syncline as the package ``syncline_examples``.

* :mod:`syncline_examples.pos` - a point-of-sale database kept in step with a back office
  (``syncline import pos-example``; see ``examples/demo.sh``).
* :mod:`syncline_examples.webapi` - a target that is a web API: one idempotent request per
  change, retried with backoff; it cannot roll back (docs/exporters.md).
"""
