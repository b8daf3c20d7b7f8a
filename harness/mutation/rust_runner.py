"""Building and judging one mutant of the Rust binding.

The tree's crates, the bindings, the C glue and the C allocator do not depend on
``buddy.rs``: they come from the tree's cached Rust build
(:func:`harness.backends.rust.build.build`). A mutant rebuilds only the last
stage, the ``kernel`` crate with the mutated ``buddy.rs`` and the worker (the doc
examples are built from it when they run). That build is cached by content
(the unmutated build's key and the mutated text), so a second run of the same
mutants compiles nothing; a compiler error is cached too.

A mutant is judged by, in turn and until one tells it apart from the unmutated
binding (built the same way):

1. the binding-layer corpus, item by item (status and message, before expectations);
2. the doc examples of ``buddy.rs``, compiled against the mutant and run;
3. the thread stress of ``bench`` (threads share one ``GpuBuddy``; it fails on
   overlapping blocks, on ``avail`` not coming back, and on block structures the C
   still holds once the allocator is dropped);
4. a seeded, bounded binding fuzz (:mod:`harness.divergence.binding_layer`) against
   the unmutated binding, not the model: what is judged is the mutant's change, and a
   place where the model and the real binding differ is no kill.

Verdict kinds are the C's (:mod:`harness.mutation.runner`).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from harness import integrity
from harness.backends.rust import build as rust_build
from harness.backends.rust import doctests
from harness.backends.rust.backend import RustBackend
from harness.backends.rust.build import BINDING, WORKER, RustBuild, RustBuildError
from harness.cachedir import prune
from harness.engine import run_case
from harness.mutation import survivors
from harness.mutation.mutants import Mutant
from harness.mutation.runner import KILLED, NO_COMPILE, SURVIVED, TIMED_OUT, Verdict
from harness.spec.loader import load_paths
from harness.trees.kernels import cache_root
from harness.trees.tree import KernelTree

STRESS = (2, 200, 64 << 20, 4 << 10)  # threads, operations each, space, chunk
KEEP_BUILDS = 200  # mutant builds kept in the cache (about 10 MB each): a file's, twice


def survivors_path(name: str, tree: KernelTree) -> Path:
    """``rust@7.2.yaml`` for rust@7.2 and rust@7.2.13; a named tree (rust@v12.1) by its
    name; a path by its kernel version."""
    label = name.split("@", 1)[1] if "@" in name else ""
    if not label or "/" in label or label.startswith("."):
        label = tree.version
    if re.fullmatch(r"\d+\.\d+(\.\d+)*", label):
        label = ".".join(label.split(".")[:2])
    return survivors.DIR / f"rust@{label}.yaml"


def header_flags(tree: KernelTree) -> list[str]:
    """The flag macros of the tree's header: what a ``flag`` mutant may put in place."""
    return rust_build._flag_macros(tree.header.read_text(errors="replace"))


class RustBench:
    """One process's workshop: the tree's build, the corpus, the oracle and the baseline."""

    def __init__(self, tree: KernelTree, source: str, specs: list[Path], timeout: float,
                 fuzz_seed: int = 1,
                 baseline: dict[str, tuple[str, str]] | None = None) -> None:
        self.tree = tree
        self.source = source
        self.timeout = timeout
        self.fuzz_seed = fuzz_seed
        self.rc = rust_build.rustc()
        self.base = rust_build.build(tree, log=lambda _m: None)
        self.examples = doctests.extract(tree.root / BINDING, BINDING)
        loaded = load_paths(specs)
        self.items = [(c, ps) for c in loaded.cases if c.layer == "binding"
                      for ps in c.combinations()]
        built = self.build(source)
        if isinstance(built, str):
            raise RustBuildError(f"the unmutated {BINDING} does not build: {built}")
        # The oracle of the fuzz: the unmutated binding, built as every mutant is.
        self.original = RustBackend(f"rust@{tree.version}", tree, built, timeout=timeout)
        self.baseline = baseline if baseline is not None else self.verdicts(self.original)[0]

    def close(self) -> None:
        self.original.close()

    # -- building -------------------------------------------------------------
    def build(self, text: str) -> RustBuild | str:
        """The kernel crate and worker built with ``text`` as ``buddy.rs`` (cached by
        content), or the compiler's first error."""
        key = rust_build._digest([self.base.dir.name, text])
        out = cache_root() / "rust" / "mutants" / f"{self.tree.version}-{key}"

        def make(tmp: Path) -> None:
            try:
                rust_build._build_kernel(self.tree, self.rc, self.base.macros, self.base.glue,
                                         self.base.native, tmp, binding=text)
            except RustBuildError as e:
                if not re.search(r"\berror(\[E\d+\])?:", str(e)):
                    raise  # no diagnostic (rustc killed, say): not the mutant's verdict to keep
                (tmp / "error.txt").write_text(str(e), encoding="utf-8")
            shutil.rmtree(tmp / "src", ignore_errors=True)  # links into the tree

        try:
            if integrity.build_once(out, make, lambda: rust_build._scratch(out)):
                prune(out.parent, f"{self.tree.version}-*", keep=KEEP_BUILDS)
        except RustBuildError as e:
            return str(e)
        if (out / "error.txt").is_file():
            return (out / "error.txt").read_text(encoding="utf-8")
        return RustBuild(out, out / WORKER, self.base.macros, self.base.glue, self.base.native,
                         0.0, 0.0)

    # -- judging --------------------------------------------------------------
    def verdicts(self, backend: RustBackend, stop_on_change: bool = False) -> tuple[
            dict[str, tuple[str, str]], str | None]:
        """(status, message) of every corpus item, doc example and the stress; with
        ``stop_on_change``, up to the first that differs from the baseline (returned too)."""
        got: dict[str, tuple[str, str]] = {}
        for key, seen in self._outcomes(backend):
            got[key] = seen
            if stop_on_change and seen != self.baseline.get(key):
                return got, key
        return got, None

    def _outcomes(self, backend: RustBackend) -> Iterator[tuple[str, tuple[str, str]]]:
        """Item by item, cheapest first: the corpus, the doc examples, the stress."""
        for case, ps in self.items:
            yield f"{case.id}[{ps.id}]", _engine_verdict(case, ps, backend)
        for r in doctests.run_all(backend.build, self.examples, timeout=max(self.timeout, 10)):
            yield r.doctest.id, (r.status, r.message)
        yield "stress", self._stress(backend)

    def _stress(self, backend: RustBackend) -> tuple[str, str]:
        threads, ops, size, chunk = STRESS
        try:
            reply = backend.stress(threads, ops, self.fuzz_seed, size, chunk)
        except Exception as e:  # noqa: BLE001 - a crash is the verdict
            return "crash", str(e)
        # The count granted depends on how the threads interleave; a failure does not.
        return ("pass", "") if reply.startswith("0 ") else ("fail", reply)

    def judge(self, m: Mutant, fuzz_examples: int) -> Verdict:
        t0 = time.monotonic()
        built = self.build(m.apply(self.source))
        if isinstance(built, str):
            return Verdict(m.id, NO_COMPILE, built, time.monotonic() - t0)
        backend = RustBackend(f"mutant {m.id}", self.tree, built, timeout=self.timeout)
        try:
            got, changed = self.verdicts(backend, stop_on_change=True)
            v = Verdict(m.id, SURVIVED, "", 0.0, len(got))
            if changed is None and fuzz_examples:
                self._fuzz(backend, v, fuzz_examples)
            elif changed is not None:
                status, message = got[changed]
                # As in the C: a change whose first sign is the worker's timeout is its own kind.
                v.status = (TIMED_OUT if (status, message[:7]) == ("crash", "timeout")
                            else KILLED)
                v.by = f"{changed}: {status}" + (f" ({message[:160]})" if message else "")
        finally:
            backend.close()
        v.seconds = time.monotonic() - t0
        return v

    def _fuzz(self, backend: RustBackend, v: Verdict, examples: int) -> None:
        from harness.divergence import fuzz

        names = (self.original.name, backend.name)
        found, stats = fuzz.search(self.original, backend, names, seed=self.fuzz_seed,
                                   examples=examples)
        v.fuzz_examples = stats.examples
        if found is not None:
            text = found.divergence.describe(names)
            v.status = TIMED_OUT if "crash timeout" in text else KILLED
            v.by = f"fuzz (seed {self.fuzz_seed}): {text}"
            v.detail = {"program": repr(found.program)}


def _engine_verdict(case, ps, backend: RustBackend) -> tuple[str, str]:
    try:
        out = run_case(case, ps, backend)
    except Exception as e:  # noqa: BLE001 - a mutant can break what the engine assumes
        return "error", f"{type(e).__name__}: {e}"
    return out.status, out.message
