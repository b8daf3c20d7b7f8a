"""Building and judging one mutant: compile, run the corpus until a verdict changes, fuzz.

Per process, the parts of the native build a mutant does not touch (the tree's
rbtree.c, the shim's wrapper and worker) are compiled once; a mutant then costs
one compile of the allocator and one link.  A mutant is *killed* when some corpus
item's verdict (status and message, before expectations) differs from the
unmutated build's, or when the fuzzer finds a divergence from the reference; it
*timed out* when the first changed verdict is the worker's timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.native import build as nbuild
from harness.backends.native.backend import NativeBackend
from harness.engine import run_case
from harness.mutation.mutants import Mutant
from harness.spec.loader import load_paths
from harness.trees.tree import KernelTree

KILLED, SURVIVED, NO_COMPILE, TIMED_OUT = "killed", "survived", "did-not-compile", "timed-out"
# Mutants are built as the kernel builds by default when the compiler can
# (CONFIG_INIT_STACK_ALL_ZERO): a local that a deleted assignment leaves unset reads
# zero, not whatever the caller left in a register, so such a mutant behaves the same
# whichever code runs before it.
MUTANT_FLAGS = ["-ftrivial-auto-var-init=zero"]
FIXED_UNITS = {"rbtree.o": "tools/lib/rbtree.c", "wrapper.o": "wrapper.c",
               "worker_main.o": "worker_main.c"}


@dataclass
class Verdict:
    id: str
    status: str  # killed, survived, did-not-compile, timed-out
    by: str = ""  # the corpus item or fuzz program that killed it, or the compiler error
    seconds: float = 0.0
    items_run: int = 0
    fuzz_examples: int = 0
    detail: dict = field(default_factory=dict)


class Bench:
    """One process's workshop: the fixed objects, the corpus and the baseline verdicts."""

    def __init__(self, tree: KernelTree, source: str, specs: list[Path], timeout: float,
                 baseline: dict[str, tuple[str, str]] | None = None) -> None:
        self.tree = tree
        self.timeout = timeout
        self.dir = Path(tempfile.mkdtemp(prefix="buddy-mutate-"))
        self.cc = nbuild.compiler()
        self.flags = [*nbuild.flags(tree, False), *MUTANT_FLAGS]
        self.inc = nbuild.include_flags(tree, self.dir)
        for obj, rel in FIXED_UNITS.items():
            src = tree.root / rel if rel.startswith("tools/") else nbuild.CSRC / rel
            subprocess.run([self.cc, *self.flags, *self.inc, "-c", str(src), "-o",
                            str(self.dir / obj)], check=True, capture_output=True)
        loaded = load_paths(specs)
        self.items = [(c, ps) for c in loaded.cases for ps in c.combinations()]
        self.baseline = baseline if baseline is not None else self._baseline(source)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- building -------------------------------------------------------------
    def build(self, source: str, tag: str) -> nbuild.Build | str:
        """The worker built from ``source``, or the compiler's first error."""
        out = self.dir / tag
        out.mkdir()
        src = out / self.tree.source.name
        src.write_text(source, encoding="utf-8")
        obj = out / "allocator.o"
        try:
            # Warnings name the file as the tree does, whichever copy was compiled, so a
            # verdict never differs from the baseline's by a path alone.
            rel = self.tree.source.parent.relative_to(self.tree.root)
            where = f"-fmacro-prefix-map={out}/={rel}/"
            p = subprocess.run([self.cc, *self.flags, *self.inc, where, "-c", str(src), "-o",
                                str(obj)], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return "the compiler took over 120 s"
        if p.returncode != 0:
            return nbuild._first_error(p.stdout + p.stderr)
        worker = out / nbuild.WORKER
        objs = [str(obj)] + [str(self.dir / o) for o in FIXED_UNITS]
        p = subprocess.run([self.cc, "-o", str(worker), *objs], capture_output=True, text=True)
        if p.returncode != 0:
            return nbuild._first_error(p.stdout + p.stderr)
        return nbuild.Build(out, out / nbuild.LIB, worker, False, 0.0, False)

    # -- judging --------------------------------------------------------------
    def backend(self, b: nbuild.Build, name: str) -> NativeBackend:
        return NativeBackend(name, self.tree, b, timeout=self.timeout)

    def _baseline(self, source: str) -> dict[str, tuple[str, str]]:
        """The unmutated source's verdicts, built the way every mutant is."""
        built = self.build(source, "baseline")
        if isinstance(built, str):
            raise nbuild.BuildError(f"the unmutated {self.tree.source.name} does not build: "
                                    f"{built}")
        backend = self.backend(built, f"native@{self.tree.version}")
        try:
            return self.verdicts_of(backend)[0]
        finally:
            backend.close()
            shutil.rmtree(built.dir, ignore_errors=True)

    def verdicts_of(self, backend: NativeBackend, stop_on_change: bool = False) -> tuple[
            dict[str, tuple[str, str]], str | None]:
        """Every item's (status, message); with ``stop_on_change``, up to the first that
        differs from the baseline, whose key is returned too."""
        got: dict[str, tuple[str, str]] = {}
        for case, ps in self.items:
            key = f"{case.id}[{ps.id}]"
            try:
                out = run_case(case, ps, backend)
                got[key] = (out.status, out.message)
            except Exception as e:  # noqa: BLE001 - a mutant can break what the engine assumes
                got[key] = ("error", f"{type(e).__name__}: {e}")
            if stop_on_change and got[key] != self.baseline.get(key):
                return got, key
        return got, None

    def judge(self, source: str, m: Mutant, fuzz_examples: int, fuzz_seed: int) -> Verdict:
        t0 = time.monotonic()
        built = self.build(m.apply(source), m.id.replace(":", "-"))
        if isinstance(built, str):
            return Verdict(m.id, NO_COMPILE, built, time.monotonic() - t0)
        backend = self.backend(built, f"mutant {m.id}")
        try:
            got, changed = self.verdicts_of(backend, stop_on_change=True)
            v = Verdict(m.id, SURVIVED, "", 0.0, len(got))
            if changed is not None:
                status, message = got[changed]
                timed_out = status == "crash" and message.startswith("timeout")
                v.status = TIMED_OUT if timed_out else KILLED
                v.by = f"{changed}: {status}" + (f" ({message[:160]})" if message else "")
            elif fuzz_examples:
                v = self._fuzz(backend, v, fuzz_examples, fuzz_seed)
        finally:
            backend.close()
            shutil.rmtree(built.dir, ignore_errors=True)
        v.seconds = time.monotonic() - t0
        return v

    def _fuzz(self, backend: NativeBackend, v: Verdict, examples: int, seed: int) -> Verdict:
        from harness.backends.reference import ReferenceBackend
        from harness.divergence import fuzz

        names = ("reference", backend.name)
        # Not shrunk: a mutant that hangs would cost a timeout per attempt.
        found, stats = fuzz.search(ReferenceBackend(), backend, names, seed=seed,
                                   examples=examples, shrinking=False)
        v.fuzz_examples = stats.examples
        if found is not None:
            timed_out = any(s.crash is not None and s.crash.kind == "timeout"
                            for s in found.sides)
            v.status = TIMED_OUT if timed_out else KILLED
            v.by = f"fuzz (seed {seed}): {found.divergence.describe(names)}"
            v.detail = {"program": found.program.describe()}
        return v
