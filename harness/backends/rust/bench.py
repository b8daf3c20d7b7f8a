"""``buddy-harness bench --backend rust@...``: the Rust backend's figures (printed, never asserted).

(Edit-to-verdict after an edit to ``buddy.rs`` is ``bench --edit-to-verdict``, as for native.)

* the binding-layer corpus with a cached build, on ``rust@`` and on the same
  tree's ``native@`` (the model binding over the same C), alternated, and
  their ratio;
* thread stress: 8 threads x 10,000 operations through the binding's Mutex; it
  fails the command (exit 1) when blocks overlap, avail is not restored, or block
  structures leak once the ``GpuBuddy`` is dropped.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from harness.backends.names import BackendRef
from harness.backends.registry import resolve
from harness.backends.rust.build import BINDING
from harness.expectations import Expectations
from harness.runner import run_one
from harness.spec.loader import load_paths


def _binding_cases(specs: Path) -> list:
    return [(c, ps) for c in load_paths([specs]).cases if c.layer == "binding"
            for ps in c.combinations()]


def _corpus(backend, todo: list) -> float:
    t0 = time.perf_counter()
    none = Expectations("none")
    for case, ps in todo:
        run_one(case, ps, backend, none)
    return time.perf_counter() - t0


def run(name: str, *, kernel_src: str | None, out: Callable[[str], None] = print) -> int:
    from harness.trees import resolve_tree

    todo = _binding_cases(Path("specs"))
    tree = resolve_tree(name, kernel_src, out)
    native_name = BackendRef(name).sibling("native")
    t0 = time.perf_counter()
    rust = resolve(name, kernel_src=kernel_src, log=out)
    opened = time.perf_counter() - t0
    b = rust.build  # type: ignore[attr-defined]
    out(f"backend {name} (Linux {tree.version}): opened in {opened * 1e3:.0f} ms "
        f"({'cached build' if not b.seconds else f'built in {b.seconds:.1f} s'}; tree crates "
        f"{'cached' if not b.macro_seconds else f'built in {b.macro_seconds:.1f} s'})")
    native = resolve(native_name, kernel_src=kernel_src, log=out)
    try:
        for suite in rust.suites():
            suite.outcomes()  # built and run once, outside the timings
        pairs = [(_corpus(rust, todo), _corpus(native, todo)) for _ in range(3)]
        r, n = (statistics.median(x) for x in zip(*pairs))
        out(f"binding-layer corpus ({len(todo)} items), cached build, median of 3: "
            f"{name} {r:.2f} s, {native_name} {n:.2f} s (ratio {r / n:.2f})")
        t1 = time.perf_counter()
        reply = rust.stress(8, 10_000, 1, 64 << 20, 4096)  # type: ignore[attr-defined]
        out(f"threads: 8 x 10,000 operations through the binding's Mutex in "
            f"{time.perf_counter() - t1:.2f} s: {reply}")
    finally:
        rust.close()
        native.close()
    out(f"edit-to-verdict after an edit to {BINDING}: buddy-harness bench --edit-to-verdict "
        f"--backend {name}")
    # An overlap, a lost byte of avail or a leaked block structure is a defect, not a figure.
    if not reply.startswith("0 "):
        out(f"bench: the thread stress through {name} failed: {reply.removeprefix('FAIL ')}")
        return 1
    return 0

