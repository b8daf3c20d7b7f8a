"""The reference backend: a pure-Python model of Linux 7.2's gpu_buddy."""

from __future__ import annotations

from harness.backends.base import FEATURES, BackendDefaults, Capabilities
from harness.backends.reference.model import BuddyModel


class ReferenceBackend(BackendDefaults):
    """Factory of :class:`BuddyModel` allocators (the executable specification)."""

    name = "reference"
    capabilities = Capabilities(version="7.2", features=FEATURES, api="gpu_buddy")

    def create(self, size: int, chunk_size: int) -> BuddyModel:
        return BuddyModel(size, chunk_size)

    def close(self) -> None:
        pass


__all__ = ["BuddyModel", "ReferenceBackend"]
