"""Small deliberately wrong backends, each the reference with ONE bug.

They exist to prove that the corpus and ``diff``/``fuzz`` notice a wrong
allocator: every miniature must fail some spec case and diverge from the
reference.  Each wraps a reference allocator and changes one behaviour
through the public core API, so it keeps working whatever the reference's
insides look like.

The empty-range miniature is a wrong *core*, not a wrong binding: the binding
is one implementation over every core (it refuses an empty Range before the C
is called), so a backend cannot bring its own.  What a core can get wrong is
a RANGE request whose window is empty (``start == end``, not the documented
``end == 0`` whole-space case): the C finds nothing in it (ENOSPC); this one
serves the request at ``start`` as if the window were exactly ``size`` wide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import pytest

from harness.backends import registry
from harness.backends.base import (
    CONTIGUOUS,
    RANGE,
    TOPDOWN,
    Allocator,
    BackendCrash,
    BackendDefaults,
    Block,
    BuddyError,
    Capabilities,
)
from harness.backends.reference import ReferenceBackend


class Wrapped:
    """A reference allocator passed through unchanged; subclasses change one thing."""

    def __init__(self, inner: Allocator) -> None:
        self.inner = inner

    @property
    def size(self) -> int:
        return self.inner.size

    @property
    def chunk_size(self) -> int:
        return self.inner.chunk_size

    @property
    def avail(self) -> int:
        return self.inner.avail

    @property
    def clear_avail(self) -> int:
        return self.inner.clear_avail

    def alloc(self, start: int, end: int, size: int, min_block_size: int,
              flags: int) -> tuple[int, list[Block]]:
        return self.inner.alloc(start, end, size, min_block_size, flags)

    def free(self, handle: int, cleared: bool = False) -> None:
        self.inner.free(handle, cleared)

    def trim(self, handle: int, new_size: int, start: int | None = None) -> list[Block]:
        return self.inner.trim(handle, new_size, start)

    def reset_clear(self, is_clear: bool) -> None:
        self.inner.reset_clear(is_clear)

    def fini(self) -> list[str]:
        return self.inner.fini()

    def warnings(self) -> list[str]:
        return self.inner.warnings()


class BottomUp(Wrapped):
    """A plain request (no RANGE, no TOPDOWN) is placed from offset 0 up, not at the top."""

    def alloc(self, start, end, size, min_block_size, flags):
        if not flags & (RANGE | TOPDOWN) and start + size != end:
            return self.inner.alloc(0, self.inner.size, size, min_block_size, flags | RANGE)
        return self.inner.alloc(start, end, size, min_block_size, flags)


class EmptyRange(Wrapped):
    """A RANGE request with ``start == end`` (not 0) is served at ``start``, not refused."""

    def alloc(self, start, end, size, min_block_size, flags):
        if flags & RANGE and start == end != 0:
            end = start + size
        return self.inner.alloc(start, end, size, min_block_size, flags)


class LeakOnFailure(Wrapped):
    """A request that fails with ENOSPC keeps one chunk it took instead of giving it back."""

    def alloc(self, start, end, size, min_block_size, flags):
        try:
            return self.inner.alloc(start, end, size, min_block_size, flags)
        except BuddyError as e:
            if e.errno == "ENOSPC":
                try:
                    self.inner.alloc(0, 0, self.inner.chunk_size, self.inner.chunk_size, 0)
                except BuddyError:
                    pass
            raise


class AvailMiscount(Wrapped):
    """After a free, ``avail`` reports one chunk less than is free."""

    freed = False

    @property
    def avail(self) -> int:
        return self.inner.avail - (self.inner.chunk_size if self.freed else 0)

    def free(self, handle, cleared=False):
        self.inner.free(handle, cleared)
        self.freed = True


class CrashOnTrim(Wrapped):
    """Every trim dies like a BUG_ON would."""

    def trim(self, handle, new_size, start=None):
        raise BackendCrash("BUG: trim is broken in this miniature", "bug")


class IgnoresCleared(Wrapped):
    """Frees with CLEARED put the blocks back dirty."""

    def free(self, handle, cleared=False):
        self.inner.free(handle, False)


class EnospcForOversize(Wrapped):
    """A request larger than the whole space is ENOSPC instead of EINVAL."""

    def alloc(self, start, end, size, min_block_size, flags):
        if size > self.inner.size:
            raise BuddyError("ENOSPC", "oversize")
        return self.inner.alloc(start, end, size, min_block_size, flags)


class DropsContiguous(Wrapped):
    """CONTIGUOUS is ignored: a request may come back as scattered blocks."""

    def alloc(self, start, end, size, min_block_size, flags):
        return self.inner.alloc(start, end, size, min_block_size, flags & ~CONTIGUOUS)


MINIATURES: dict[str, type[Wrapped]] = {
    "mini-bottom-up": BottomUp,
    "mini-empty-range": EmptyRange,
    "mini-leak-on-failure": LeakOnFailure,
    "mini-avail-miscount": AvailMiscount,
    "mini-crash-on-trim": CrashOnTrim,
    "mini-ignores-cleared": IgnoresCleared,
    "mini-enospc-for-oversize": EnospcForOversize,
    "mini-drops-contiguous": DropsContiguous,
}


class MiniatureBackend(BackendDefaults):
    """A core backend handing out ``wrapper``-wrapped reference allocators."""

    def __init__(self, name: str, wrapper: Callable[[Allocator], Allocator]) -> None:
        self.name = name
        self._wrapper = wrapper
        self._reference = ReferenceBackend()
        self.capabilities: Capabilities = self._reference.capabilities

    def create(self, size: int, chunk_size: int) -> Allocator:
        return self._wrapper(self._reference.create(size, chunk_size))

    def close(self) -> None:
        pass


def backend(name: str) -> MiniatureBackend:
    return MiniatureBackend(name, MINIATURES[name])


Wrapper = Callable[[Allocator], Allocator]


def openers(wrappers: Mapping[str, Wrapper]) -> dict[str, registry.Opener]:
    """The registry's openers of test backends, each handing out ``wrapper``-wrapped
    reference allocators under the name it was opened by."""
    return {name: _opener(wrapper) for name, wrapper in wrappers.items()}


def _opener(wrapper: Wrapper) -> registry.Opener:
    return lambda ref, _options: MiniatureBackend(ref, wrapper)


@contextmanager
def registered(extra: Mapping[str, Wrapper] | None = None) -> Iterator[None]:
    """``--backend mini-...`` (and ``extra`` names) resolvable for the ``with`` block."""
    with registry.registered(openers(dict(MINIATURES) | dict(extra or {}))):
        yield


def register_in_pytest(config: pytest.Config, wrappers: Mapping[str, Wrapper]) -> None:
    """Make test backends' names usable as --backend/--diff names for one pytest run."""
    for name, opener in openers(wrappers).items():
        config.add_cleanup(registry.register(name, opener))


def pytest_configure(config: pytest.Config) -> None:
    """As a plugin (``-p tests.miniatures``): the miniatures' names work with --backend/--diff."""
    register_in_pytest(config, MINIATURES)
