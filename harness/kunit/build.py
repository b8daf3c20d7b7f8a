"""Build a tree's KUnit file into a runner linked to native@'s build of the same allocator.

The runner holds the tree's test file (compiled unmodified, in place, so its own
relative includes resolve), its helper units and the stand-in's runtime; the
allocator itself is not in it: the runner loads the ``libbuddy.so`` of the
native build it is run with (``LD_LIBRARY_PATH``, see :mod:`harness.kunit.run`).
So an edit to ``buddy.c`` rebuilds the allocator once, for the cases and the
suite alike, and the runner is not even relinked.  Runners are cached under
``build/kunit-<key>/`` beside the native builds, objects in the same object cache.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness import integrity, leftovers
from harness.backends.native import build as native_build
from harness.backends.native import objcache
from harness.kunit.source import KunitFile
from harness.trees.kernels import cache_root

STANDIN = Path(__file__).with_name("csrc")
RUNNER = "kunit-runner"
# Calls to what the stand-in lacks must stop the build, not become an unresolved symbol.
UNIT_FLAGS = ["-Werror=implicit-function-declaration"]


class KunitBuildError(Exception):
    """The test file did not build against the stand-in; says where and what is missing."""


@dataclass(frozen=True)
class Runner:
    path: Path
    seconds: float  # 0 when cached
    cached: bool


def build(kf: KunitFile, native: native_build.Build,
          sources: dict[str, Path] | None = None) -> Runner:
    """The cached runner of ``kf`` for ``native``'s flags, compiling what changed.

    ``sources`` replaces the test file by other text (``export kunit`` adds cases to a
    copy); its keys are unit names, its values files compiled in place of the tree's.
    """
    p = _plan(kf, native, sources)
    t0 = time.monotonic()
    # A damaged runner (or one from before seals) is rebuilt.
    built = integrity.build_once(
        p.out, lambda tmp: _compile(kf, native, p.cc, p.fl, p.units, p.keys, tmp),
        lambda: leftovers.scratch(p.out.parent, "kunit"))
    return Runner(p.out / RUNNER, time.monotonic() - t0 if built else 0.0, not built)


def cached(kf: KunitFile, native: native_build.Build) -> Runner | None:
    """The runner :func:`build` would return, if it is built and sound; nothing compiles."""
    out = _plan(kf, native, None).out
    return Runner(out / RUNNER, 0.0, True) if integrity.usable(out) else None


@dataclass(frozen=True)
class _Plan:
    out: Path
    cc: str
    fl: list[str]
    units: dict[str, Path]
    keys: dict[str, str]


def _plan(kf: KunitFile, native: native_build.Build, sources: dict[str, Path] | None) -> _Plan:
    tree = kf.tree
    cc = native_build.compiler()
    fl = [*native_build.flags(tree, native.sanitize, native.coverage), *UNIT_FLAGS]
    units = {"test.o": kf.path, **{f"helper{i}.o": tree.root / h
                                   for i, h in enumerate(kf.helpers)},
             "runtime.o": STANDIN / "runtime.c", **(sources or {})}
    shared = [tree.header, *native_build._headers(tree),
              *sorted(p for p in STANDIN.rglob("*.h") if p.is_file()),
              *sorted(p for p in kf.path.parent.glob("*.h")),
              *[p for h in kf.helpers for p in sorted((tree.root / h).parent.glob("*.h"))]]
    salt = f"kunit\0{native_build._compiler_id(cc)}\0{' '.join(fl)}\0{tree.version}"
    keys = objcache.unit_keys(shared, salt, units, str(tree.root))
    key = hashlib.sha256("-".join(sorted(keys.values())).encode()).hexdigest()[:16]
    return _Plan(cache_root() / "build" / f"kunit-{tree.version}-{key}", cc, fl, units, keys)


def include_flags(kf: KunitFile, out: Path) -> list[str]:
    """The stand-in's headers first (its ``linux/random.h`` and friends), then the native
    build's include path, and the test unit's own environment force-included."""
    native = native_build.include_flags(kf.tree, out)
    return [f"-I{STANDIN / 'include'}", *native,
            "-include", str(STANDIN / "include/bh_kunit_env.h"),
            f"-fmacro-prefix-map={STANDIN}/=kunit/"]


def _compile(kf: KunitFile, native: native_build.Build, cc: str, fl: list[str],
             units: dict[str, Path], keys: dict[str, str], out: Path) -> None:
    inc = include_flags(kf, out)
    native_build.compile_units([cc, *fl, *inc], units, keys, out,
                               lambda text, src: KunitBuildError(explain(text, src, kf)))
    san = [f for f in fl if f.startswith("-fsanitize") or f == "--coverage"]
    link = subprocess.run([cc, *san, "-o", str(out / RUNNER), *(str(out / o) for o in units),
                           f"-L{native.dir}", "-lbuddy"],
                          capture_output=True, text=True)
    if link.returncode != 0:
        raise KunitBuildError(explain(link.stdout + link.stderr, kf.path, kf))
    for o in units:
        (out / o).unlink()


_MISSING = (re.compile(r"implicit declaration of function '(\w+)'"),
            re.compile(r"undefined reference to `(\w+)'"),
            re.compile(r"'(\w+)' undeclared"),
            re.compile(r"unknown type name '(\w+)'"),
            re.compile(r"fatal error: ([\w/.]+): No such file"),
            re.compile(r"error: the KUnit stand-in has no [^(]*\((\w+)\)"))


def explain(text: str, unit: Path, kf: KunitFile) -> str:
    """The compiler's first error, and what the stand-in (or the tree) lacks."""
    root = str(kf.tree.root) + "/"
    first = native_build._first_error(text).replace(root, "")
    missing = []
    for line in text.splitlines():
        for pat in _MISSING:
            m = pat.search(line)
            if m and m[1] not in missing:
                missing.append(m[1])
    rel = unit.relative_to(kf.tree.root) if unit.is_relative_to(kf.tree.root) else unit.name
    what = f"; missing: {', '.join(missing[:8])}" if missing else ""
    return (f"{rel} does not build against the harness's KUnit stand-in: {first}{what} "
            "(the spec cases still run; the stand-in lives in harness/kunit/csrc/)")
