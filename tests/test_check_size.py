"""``check: size`` reads the allocator (core) or ``GpuBuddy::size()`` (binding), never the
size the case asked for."""

from __future__ import annotations

from pathlib import Path

from harness.backends.reference import ReferenceBackend
from harness.engine import run_case
from harness.spec.loader import load_file
from tests.miniatures import MiniatureBackend, Wrapped

SPEC = Path(__file__).resolve().parent.parent / "specs" / "extra" / "size.yaml"


class UnroundedSize(Wrapped):
    """Reports the size it was asked for, as a C that forgot to round down would."""

    def __init__(self, inner, asked: int) -> None:
        super().__init__(inner)
        self.asked = asked

    @property
    def size(self) -> int:
        return self.asked


class _Unrounded(MiniatureBackend):
    def create(self, size: int, chunk_size: int):
        return UnroundedSize(self._reference.create(size, chunk_size), size)


def _outcomes(case_id: str, backend) -> list:
    case = next(c for c in load_file(str(SPEC)) if c.id == case_id)
    return [run_case(case, ps, backend) for ps in case.combinations()]


def test_core_size_is_the_allocators():
    assert {o.status for o in _outcomes("extra.size-core-is-rounded-down-to-a-chunk",
                                        ReferenceBackend())} == {"pass"}
    bad = _outcomes("extra.size-core-is-rounded-down-to-a-chunk",
                    _Unrounded("unrounded", lambda mm: mm))
    assert all(o.status == "fail" and "check: expected size 12M, got 0xc00064" in o.message
               for o in bad), [o.message for o in bad]


def test_binding_size_is_what_was_asked():
    assert {o.status for o in _outcomes("extra.size-binding-is-what-was-asked",
                                        ReferenceBackend())} == {"pass"}
