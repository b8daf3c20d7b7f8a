"""The tree's own kernel-doc parser, run (never copied) to confirm what was extracted.

Linux 7.x ships it as a Python library (``tools/lib/python/kdoc``), driven
here in a child process with the tree's own module path; 6.x ships the Perl
``scripts/kernel-doc``, whose reStructuredText output names every item.  What
it finds is compared with :mod:`harness.docs.kerneldoc`'s items, and its
warnings are passed on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

_DRIVER = r"""
import io, json, logging, sys
sys.path.insert(0, "tools/lib/python")
from kdoc.kdoc_files import KernelFiles
buf = io.StringIO()
log = logging.getLogger("buddy-harness-kdoc")
log.addHandler(logging.StreamHandler(buf))
log.propagate = False
kf = KernelFiles(logger=log)
kf.parse(sys.argv[1:])
print(json.dumps({"items": [[f, it.name, it.declaration_start_line]
                            for f, items in kf.results.items() for it in items],
                  "warnings": buf.getvalue().splitlines()}))
"""
_RST_ITEM = re.compile(r"^\.\. c:(?:function|macro|struct|union|enum|type)::\s+(?P<decl>.*)$")
_LINENO = re.compile(r"^\.\. LINENO (\d+)")


@dataclass
class KdocRun:
    tool: str  # what ran: "tools/lib/python/kdoc" or "scripts/kernel-doc (perl)"
    names: dict[str, set[str]] = field(default_factory=dict)  # file -> documented names
    warnings: list[str] = field(default_factory=list)


def run(root: Path, files: list[str], timeout: float = 60.0) -> KdocRun | None:
    """The tree parser's items and warnings for ``files``; None when the tree has no parser.

    A parser that fails or hangs is reported in the warnings, never raised: it
    only confirms what the harness extracted itself.
    """
    try:
        return _run(root, [f for f in files if (root / f).is_file()], timeout)
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        return KdocRun("the tree's kernel-doc", warnings=[f"could not run: {e}"])


def _run(root: Path, files: list[str], timeout: float) -> KdocRun | None:
    if (root / "tools/lib/python/kdoc/kdoc_files.py").is_file():
        out = subprocess.run([sys.executable, "-c", _DRIVER, *files], cwd=root, text=True,
                             capture_output=True, timeout=timeout)
        if out.returncode != 0:
            return KdocRun("tools/lib/python/kdoc", warnings=[out.stderr.strip()[-500:]])
        data = json.loads(out.stdout)
        res = KdocRun("tools/lib/python/kdoc", warnings=data["warnings"])
        for f, name, _line in data["items"]:
            res.names.setdefault(f, set()).add(name)
        return res
    script = root / "scripts/kernel-doc"
    if script.is_file() and shutil.which("perl"):
        res = KdocRun("scripts/kernel-doc (perl)")
        for f in files:
            out = subprocess.run(["perl", str(script), "-rst", f], cwd=root, text=True,
                                 capture_output=True, timeout=timeout)
            res.warnings += [w for w in out.stderr.splitlines() if "warning" in w]
            names = res.names.setdefault(f, set())
            for line in out.stdout.splitlines():
                m = _RST_ITEM.match(line)
                if m:
                    names.add(_decl_name(m.group("decl")))
        return res
    return None


def _decl_name(decl: str) -> str:
    """``int gpu_buddy_init (struct gpu_buddy *mm, ...)`` -> gpu_buddy_init."""
    head = decl.split("(")[0].strip()
    return re.split(r"[\s*]+", head)[-1] if head else decl
