"""The one way a package of mcast loads a public name on first use.

A package's ``__init__`` names what it offers and the private module that
holds each; the module is imported only when the name is asked for, so
importing a package (a pure one's, say) loads nothing more.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def loader(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name -> its module in ``table``."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(f".{module}", package), name)

    return __getattr__
