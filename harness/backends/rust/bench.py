"""``buddy-harness bench --backend rust@...``: the Rust backend's figures (printed, never asserted).

* edit-to-verdict: on a scratch copy of the tree, ``buddy.rs`` is edited (a
  comment appended, so the kernel crate, worker and doctests really rebuild),
  then the backend is opened (the rebuild) and every binding-layer case and
  every doc example runs; the median of several rounds;
* the binding-layer corpus with a cached build, on ``rust@`` and on the same
  tree's ``native@`` (the model binding over the same C), alternated, and
  their ratio;
* thread stress: 8 threads x 10,000 operations through the binding's Mutex.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def run(name: str, *, kernel_src: str | None, rounds: int = 5,
        out: Callable[[str], None] = print) -> int:
    from harness.backends.native import resolve_tree

    todo = _binding_cases(Path("specs"))
    tree = resolve_tree(name, kernel_src, out)
    native_name = "native@" + name.partition("@")[2] if "@" in name else "native"
    t0 = time.perf_counter()
    rust = resolve(name, kernel_src=kernel_src, log=out)
    opened = time.perf_counter() - t0
    b = rust.build  # type: ignore[attr-defined]
    out(f"backend {name} (Linux {tree.version}): opened in {opened * 1e3:.0f} ms "
        f"({'cached build' if not b.seconds else f'built in {b.seconds:.1f} s'}; tree crates "
        f"{'cached' if not b.macro_seconds else f'built in {b.macro_seconds:.1f} s'})")
    native = resolve(native_name, kernel_src=kernel_src, log=out)
    try:
        rust.doctest_outcomes()
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
    times = _edit_to_verdict(tree.root, todo, rounds, out)
    out(f"edit-to-verdict after an edit to {BINDING} (rebuild + {len(todo)} binding-layer items "
        f"+ doc examples), median of {rounds}: {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f})")
    return 0


def _edit_to_verdict(root: Path, todo: list, rounds: int,
                     out: Callable[[str], None]) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory(prefix="bh-rust-bench-") as tmp:
        scratch = Path(tmp) / "linux"
        shutil.copytree(root, scratch, symlinks=True)
        path = scratch / BINDING
        text = path.read_text()
        for i in range(rounds):
            path.write_text(text + f"\n// bench edit {time.time_ns()} {i}\n")
            t0 = time.perf_counter()
            b = resolve(f"rust@{scratch}", kernel_src=None, log=lambda _m: None)
            try:
                _corpus(b, todo)
                docs = b.doctest_outcomes()  # type: ignore[attr-defined]
            finally:
                b.close()
            times.append(time.perf_counter() - t0)
            bad = [d.case_id for d in docs if d.status != "pass"]
            out(f"  round {i + 1}: {times[-1]:.2f} s" + (f" (failing: {bad})" if bad else ""))
    return times
