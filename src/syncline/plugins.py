"""Find code-defined handlers: by entry point (group ``syncline.handlers``) or ``module:Class``."""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from syncline.errors import ConfigError

if TYPE_CHECKING:
    from syncline.handler import Handler

GROUP = "syncline.handlers"


def handler_names() -> list[str]:
    """Names of the handlers installed as entry points."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_handler(spec: str) -> type[Handler]:
    """The handler class named by an entry point name or ``module:Class``."""
    from syncline.handler import Handler

    found: object
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        if "" not in sys.path and "." not in sys.path:
            sys.path.insert(0, "")  # `module:Class` from the current directory, like python -m
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigError(f"cannot import module {module_name!r} for handler {spec}") from exc
        try:
            found = getattr(module, attr)
        except AttributeError as exc:
            raise ConfigError(f"module {module_name} has no {attr}") from exc
    else:
        matches = [ep for ep in entry_points(group=GROUP) if ep.name == spec]
        if not matches:
            known = ", ".join(handler_names()) or "none installed"
            raise ConfigError(f"no handler named {spec!r} (installed: {known};"
                              " or give module:Class)")
        found = matches[0].load()
    if not (isinstance(found, type) and issubclass(found, Handler)):
        raise ConfigError(f"{spec} is not a syncline Handler class")
    return found
