"""Backend names, parsed once into a :class:`BackendRef`, and the table of what opens them.

A name is ``reference`` (or another plain name in :data:`PLAIN`), or a family of the kernel's
code (:data:`FAMILIES`) alone (its tree from --kernel-src) or as ``FAMILY@WHAT`` (a kernel
version, a tree's path or a patched tree's name).  Tests add names through :func:`register`
or :func:`registered` (the miniatures and the deliberately malformed backends are plain
names), never by writing into the tables; nothing else parses a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from harness.backends.base import BackendUnavailable, CoreBackend
from harness.backends.names import BackendRef


@dataclass(frozen=True)
class OpenOptions:
    kernel_src: str | None = None
    sanitize: bool = False
    timeout: float = 10.0
    log: Callable[[str], None] = print


def _open_native(ref: BackendRef, o: OpenOptions) -> CoreBackend:
    from harness.backends.native import open_backend

    return open_backend(ref, kernel_src=o.kernel_src, sanitize=o.sanitize, timeout=o.timeout,
                        log=o.log)


def _open_rust(ref: BackendRef, o: OpenOptions) -> CoreBackend:
    from harness.backends.rust import open_backend

    return open_backend(ref, kernel_src=o.kernel_src, timeout=o.timeout, log=o.log)


def _open_reference(ref: BackendRef, o: OpenOptions) -> CoreBackend:
    from harness.backends.reference import ReferenceBackend

    return ReferenceBackend()


Opener = Callable[[BackendRef, OpenOptions], CoreBackend]

# Families of a kernel tree's code: FAMILY, or FAMILY@WHAT.
FAMILIES: dict[str, Opener] = {
    "native": _open_native,
    "rust": _open_rust,
}
# Names that stand alone (no tree): the reference, and what tests register.
PLAIN: dict[str, Opener] = {
    "reference": _open_reference,
}


def register(name: str, opener: Opener, *, family: bool = False) -> Callable[[], None]:
    """Make ``name`` a plain backend (or, with ``family``, a family: ``NAME`` and
    ``NAME@WHAT``) opened by ``opener``; returns what takes it away again.

    A name either table already holds is refused (ValueError): a plain name that is also a
    family's would make ``NAME`` mean two backends.
    """
    if not name or "@" in name or any(c.isspace() for c in name):
        raise ValueError(f"backend name {name!r}: give a word with no '@' and no spaces")
    if name in PLAIN or name in FAMILIES:
        kind = "a family" if name in FAMILIES else "a plain backend"
        raise ValueError(f"backend name '{name}' is taken ({kind}); unregister it first or "
                         f"choose another name")
    table = FAMILIES if family else PLAIN
    table[name] = opener

    def unregister() -> None:
        if table.get(name) is opener:  # twice, or after another took the name: no harm
            del table[name]

    return unregister


@contextmanager
def registered(openers: Mapping[str, Opener], *, family: bool = False) -> Iterator[None]:
    """:func:`register` each name of ``openers`` for the ``with`` block; all are taken away
    after it, and none stays if one of them is refused."""
    with ExitStack() as undo:
        for name, opener in openers.items():
            undo.callback(register(name, opener, family=family))
        yield


def name_problem(name: str) -> str | None:
    """What is wrong with a backend name, judged by the tables alone; None if nothing.

    Whether the backend can be opened (a tree exists, a compiler works) is for
    :func:`resolve`; this only refuses what no backend could be, at parse time.
    """
    family, at, what = name.partition("@")
    if name in PLAIN or (family in FAMILIES and (not at or what)):
        return None
    if family in FAMILIES:
        return f"backend '{name}' names no version or path after '@' (e.g. {family}@7.2)"
    forms = ", ".join(("reference",) + tuple(f"{f}, {f}@VERSION, {f}@PATH" for f in FAMILIES))
    return f"unknown backend '{name}' (use {forms})"


def parse(name: str) -> BackendRef:
    """The typed name of a known backend; BackendUnavailable saying what to write if not."""
    problem = name_problem(name)
    if problem is not None:
        raise BackendUnavailable(
            f"{problem}; a patched tree is native@NAME or rust@NAME of `kernel patch NAME`")
    return BackendRef(name)


def resolve(
    name: str,
    *,
    kernel_src: str | None = None,
    sanitize: bool = False,
    timeout: float = 10.0,
    log: Callable[[str], None] = print,
) -> CoreBackend:
    """Open the backend ``name``; raises BackendUnavailable with what to do."""
    ref = parse(name)
    opener = PLAIN.get(ref) or FAMILIES[ref.family]
    return opener(ref, OpenOptions(kernel_src, sanitize, timeout, log))
