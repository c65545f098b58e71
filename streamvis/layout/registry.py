"""A name -> declaration table that the rooms above layout fill, loaded on first use.

layout/ checks plot kinds and source types when it reads a layout, but kinds/ and
sources/ sit above it and must not be imported from here. So they register their
declarations into a `Registry`, and `streamvis/__init__.py` (above every room) hands each
registry a loader that imports them the first time a layout asks: any use of the package
knows them while `import streamvis` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

Declaration = TypeVar("Declaration")


class Registry(Generic[Declaration]):
    """Declarations by name, in registration order (error messages list them in it)."""

    def __init__(self) -> None:
        self.entries: dict[str, Declaration] = {}
        self._loaders: list[Callable[[], None]] = []
        self._loaded = True  # every loader has run (to its end) once

    def register(self, name: str, declaration: Declaration) -> None:
        """Make `name` valid in layouts (again: a later registration replaces it)."""
        self.entries[name] = declaration

    def load_with(self, loader: Callable[[], None]) -> None:
        """Call `loader` (which registers declarations) the first time they are asked for."""
        self._loaders.append(loader)
        self._loaded = False

    def view(self) -> Mapping[str, Declaration]:
        """Every registered declaration, read-only.

        Until the loaders have run to their end, every caller runs them: they import
        modules, and a thread asking while another imports waits on Python's own module
        lock instead of seeing half the table. No lock of ours is held meanwhile."""
        if not self._loaded:
            for loader in list(self._loaders):
                loader()
            self._loaded = True
        return MappingProxyType(self.entries)
