"""Coverage of the allocator's file per function, from gcovr's JSON, with the exclusions.

gcovr (``--json``) gives, per line of the file, its execution count, the
function it belongs to and its branches.  Every function counts, the internal
ones too (gcovr leaves out names starting with ``__`` unless told, and the
allocator's core is named so); a function defined in the file that the report
lacks is reported as missing, which fails ``cover``.  What is left out, and why:

- the printing functions (``*_print``, ``*_block_print``): diagnostics for a
  person, no behaviour to check, and they print through the kernel's printk;
- module init and exit (``*_module_init``, ``*_module_exit``, and the shim's
  ``bh_module_*`` they expand into): they create and destroy the slab cache
  once per process, outside any allocator;
- the branches (not the lines) of assertions, ``BUG_ON``, ``WARN_ON`` and
  ``*_buddy_assert``: their other side is a kernel bug, never behaviour a
  case may ask for (the harness reports one as a crash when it happens).

GCC 12 cannot tell gcovr where a function ends (``--exclude-function`` needs
GCC 14), so the exclusions are applied here, to the JSON, and the HTML page
is rendered by gcovr from the filtered data.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.backends.base import BackendUnavailable

EXCLUDED_FUNCTIONS = re.compile(
    r"^((gpu|drm)_buddy_(block_)?print|(gpu|drm)_buddy_module_(init|exit)|bh_module_(init|exit))$")
ASSERTION = re.compile(r"\b(BUG_ON|WARN_ON|WARN|(gpu|drm)_buddy_assert)\s*\(")
EXCLUSIONS = [
    "printing functions (*_print, *_block_print): diagnostics through printk, nothing to check",
    "module init/exit (*_module_init, *_module_exit): the slab cache, once per process",
    "branches of BUG_ON, WARN_ON and *_buddy_assert lines: their other side is a kernel bug",
]


DEFINITION_END = re.compile(r"(;|\}|\*/)\s*$")
DEFINED_NAME = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


class CoverError(BackendUnavailable):
    """gcovr is missing or failed; the message says what to do."""


@dataclass
class FunctionCoverage:
    name: str
    line: int
    lines: int = 0
    lines_run: int = 0
    branches: int = 0
    branches_taken: int = 0
    missing_lines: list[int] = field(default_factory=list)

    @property
    def line_percent(self) -> float:
        return percent(self.lines_run, self.lines)

    @property
    def branch_percent(self) -> float:
        return percent(self.branches_taken, self.branches)


@dataclass
class FileCoverage:
    file: str
    functions: list[FunctionCoverage]
    total: FunctionCoverage
    excluded_lines: int
    excluded_branches: int
    # Functions the source defines that gcov's data does not name: the figure would not count them.
    missing_functions: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "exclusions": EXCLUSIONS,
            "missing_functions": self.missing_functions,
            "excluded": {"lines": self.excluded_lines, "branches": self.excluded_branches},
            "total": _fn_json(self.total),
            "functions": [_fn_json(f) for f in self.functions],
        }


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


def _fn_json(f: FunctionCoverage) -> dict:
    d = asdict(f)
    d["line_percent"] = round(f.line_percent, 2)
    d["branch_percent"] = round(f.branch_percent, 2)
    return d


def defined_functions(text: str) -> list[str]:
    """Names of the functions a kernel-style C file defines: a body's ``{`` alone at column 0.

    The header above it (back to the previous statement, comment or blank line)
    names the function first: ``static int __init name(...)`` or
    ``static struct x *\nname(...)``.  Functions that macros expand into are not
    seen, which only makes the check less strict.
    """
    lines = text.splitlines()
    names = []
    for i, line in enumerate(lines):
        if line.rstrip() != "{":
            continue
        head: list[str] = []
        for prev in reversed(lines[max(0, i - 12):i]):
            if not prev.strip() or prev.startswith("#") or DEFINITION_END.search(prev):
                break
            head.insert(0, prev)
        m = DEFINED_NAME.search(" ".join(head))
        if m and "=" not in " ".join(head)[:m.start()]:
            names.append(m.group(1))
    return names


def gcovr_json(data_dir: Path, root: Path, source: Path, out: Path) -> dict:
    """Run gcovr over the counters in ``data_dir`` for ``source``; its JSON."""
    exe = shutil.which("gcovr")
    if exe is None:
        raise CoverError("cover needs gcovr: pip install gcovr (it is one of buddy-harness's "
                         "dependencies; reinstall with pip install -e .)")
    cmd = [exe, "--root", str(root), "--filter", re.escape(str(source.resolve())) + "$",
           # gcovr drops functions named __* by default: the allocator's core is named so.
           "--include-internal-functions",
           # The copied allocator header lived in the build's temporary directory.
           "--gcov-ignore-errors=source_not_found", "--json", str(out), str(data_dir)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=data_dir)
    if p.returncode != 0 or not out.is_file():
        last = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]
        raise CoverError(f"gcovr failed: {last[-1] if last else 'no output'}")
    return json.loads(out.read_text())


def filtered(raw: dict, source: Path) -> tuple[dict, FileCoverage]:
    """The gcovr JSON with the exclusions removed, and the per-function coverage."""
    files = [f for f in raw.get("files", []) if Path(f["file"]).name == source.name]
    if not files:
        raise CoverError(f"no coverage recorded for {source.name}: did the corpus run at all?")
    text = source.read_text(errors="replace").splitlines()
    entry = files[0]
    kept = []
    by_fn: dict[str, FunctionCoverage] = {}
    starts = {f["name"]: f["lineno"] for f in entry.get("functions", [])}
    ex_lines = ex_branches = 0
    for ln in entry["lines"]:
        fn = ln.get("function_name", "")
        if EXCLUDED_FUNCTIONS.match(fn):
            ex_lines += 1
            continue
        src = text[ln["line_number"] - 1] if ln["line_number"] <= len(text) else ""
        if ln["branches"] and ASSERTION.search(src):
            ex_branches += len(ln["branches"])
            ln = dict(ln, branches=[])
        kept.append(ln)
        f = by_fn.setdefault(fn, FunctionCoverage(fn, starts.get(fn, ln["line_number"])))
        f.lines += 1
        if ln["count"] > 0:
            f.lines_run += 1
        else:
            f.missing_lines.append(ln["line_number"])
        f.branches += len(ln["branches"])
        f.branches_taken += sum(1 for b in ln["branches"] if b["count"] > 0)
    total = FunctionCoverage("TOTAL", 0)
    for f in by_fn.values():
        total.lines += f.lines
        total.lines_run += f.lines_run
        total.branches += f.branches
        total.branches_taken += f.branches_taken
        total.missing_lines += f.missing_lines
    total.missing_lines.sort()
    functions = sorted(by_fn.values(), key=lambda f: f.line)
    named = set(starts) | set(by_fn)
    missing = [n for n in defined_functions("\n".join(text))
               if n not in named and not EXCLUDED_FUNCTIONS.match(n)]
    fs = [dict(f) for f in raw["files"] if f is entry]
    fs[0]["lines"] = kept
    fs[0]["functions"] = [f for f in entry.get("functions", [])
                          if not EXCLUDED_FUNCTIONS.match(f["name"])]
    return (dict(raw, files=fs),
            FileCoverage(entry["file"], functions, total, ex_lines, ex_branches, missing))


def render_html(tracefile: Path, root: Path, out: Path) -> None:
    """gcovr's per-line HTML page from the filtered tracefile."""
    exe = shutil.which("gcovr") or "gcovr"
    out.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([exe, "--root", str(root), "--json-add-tracefile", str(tracefile),
                        "--html-details", str(out), "--html-title", "buddy-harness cover"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        last = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]
        raise CoverError(f"gcovr could not write {out}: {last[-1] if last else 'no output'}")


def text_report(cov: FileCoverage) -> str:
    width = max([len(f.name) for f in cov.functions] + [8])
    rows = [f"{'function':<{width}}  {'lines':>11} {'%':>6}  {'branches':>9} {'%':>6}  "
            "lines not run"]
    for f in [*cov.functions, cov.total]:
        missing = "" if f is cov.total else _ranges(f.missing_lines)
        rows.append(f"{f.name:<{width}}  {f.lines_run:>5}/{f.lines:<5} {f.line_percent:>5.1f}%  "
                    f"{f.branches_taken:>4}/{f.branches:<4} {f.branch_percent:>5.1f}%  {missing}")
    if cov.missing_functions:
        rows.append(f"MISSING from gcov's data (not counted): {', '.join(cov.missing_functions)}")
    else:
        rows.append("every function the file defines is counted, internal (__*) ones included")
    rows.append(f"excluded: {cov.excluded_lines} lines, {cov.excluded_branches} branches")
    rows += [f"  - {e}" for e in EXCLUSIONS]
    return "\n".join(rows)


def _ranges(nums: list[int]) -> str:
    spans: list[list[int]] = []
    for n in sorted(nums):
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
