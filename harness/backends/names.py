"""Backend names read into a :class:`BackendRef`: the name as written, its family and what
names its tree.

Which names exist is the registry's to say (its tables, above this module); this one only
reads a name's parts, so every layer may use it.
"""

from __future__ import annotations


class BackendRef(str):
    """A backend name as the user wrote it, with its parts: ``native@v12.1`` has family
    ``native`` and ``what`` ``v12.1``; ``reference`` has no ``what``.  It is the name too
    (a ``str``), so it keys results and prints as given."""

    family: str
    what: str | None

    def __new__(cls, name: str) -> BackendRef:
        if isinstance(name, BackendRef):
            return name
        self = super().__new__(cls, name)
        family, at, what = name.partition("@")
        self.family, self.what = family, (what if at else None)
        return self

    def sibling(self, family: str) -> BackendRef:
        """The same tree seen through another family: ``rust@7.2`` -> ``native@7.2``."""
        return BackendRef(family if self.what is None else f"{family}@{self.what}")
