"""Diff engines: plan a model against its target, compute its change set, apply it.

:mod:`~syncline.engines.plan` holds the values (a leaf), :mod:`~syncline.engines.planning`
makes a plan, :mod:`~syncline.engines.reading` reads the source for both engines,
:mod:`~syncline.engines.base` is the interface and the choice between
:mod:`~syncline.engines.memory` and :mod:`~syncline.engines.database`.
"""
