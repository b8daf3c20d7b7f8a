"""The Rust lint flags a kernel tree's own build gives its ``kernel`` crate, read from its
Makefiles: ``KBUILD_RUSTFLAGS`` of the top-level ``Makefile`` (``rust_common_flags`` and the
per-version additions) and what ``rust/Makefile`` adds or skips for the kernel crate.

Only as much of make is understood as these assignments use: ``:=``, ``=``, ``+=``, ``?=``,
backslash continuations, comments, ``$(VAR)``, ``$(if ...)`` and ``$(call
rustc-min-version,N)`` (answered for the machine's rustc). Conditionals are not evaluated:
every assignment counts, since without a ``.config`` none can be decided, and the lint flags
of the trees read so far sit outside any that depends on one. Of the result only the lint
flags (``-W``/``-A``/``-D``/``-F``/``--cap-lints`` and their long forms) and the edition are
kept; codegen flags are the user-space build's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_ASSIGN = re.compile(r"^(?:export\s+|override\s+)*([A-Za-z_][A-Za-z0-9_-]*)\s*(:=|::=|\+=|\?=|=)"
                     r"\s*(.*)$")
# A target-specific assignment: "$(obj)/kernel.o: private rustc_target_flags = ..."
_TARGET = re.compile(r"^([^:=\s]+):\s*(?:private\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*(:=|\+=|=)"
                     r"\s*(.*)$")
_LINT = re.compile(r"^(?:-[WADF]\S+|--(?:warn|allow|deny|forbid|force-warn)=\S+)$")
# The kernel crate's rules in rust/Makefile: its object, and its documentation.
KERNEL_TARGETS = {"clippy": "$(obj)/kernel.o", "rustdoc": "rustdoc-kernel"}


@dataclass(frozen=True)
class LintFlags:
    edition: str  # "2021"
    lints: tuple[str, ...]  # in the build's order: a later flag overrides an earlier one
    source: str  # which files they were read from, for messages

    def args(self) -> list[str]:
        return [f"--edition={self.edition}", *self.lints]


def _logical_lines(text: str) -> list[str]:
    """Lines with continuations joined and comments removed."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = re.sub(r"(?<!\\)#.*$", "", raw)
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        out.append(cur + line)
        cur = ""
    if cur:
        out.append(cur)
    return out


class _Make:
    """Variables as make holds them: ``:=`` expanded when assigned, ``=`` when used."""

    def __init__(self, rustc_version: int) -> None:
        self.vars: dict[str, tuple[bool, str]] = {}  # name -> (simple, text)
        self.targets: dict[tuple[str, str], list[str]] = {}  # (target, name) -> raw values
        self.rustc_version = rustc_version

    def read(self, text: str) -> _Make:
        for line in _logical_lines(text):
            if line.startswith("\t"):
                continue  # a recipe line
            m = _ASSIGN.match(line.strip())
            if m:
                self._assign(m[1], m[2], m[3])
                continue
            t = _TARGET.match(line.strip())
            if t:
                self.targets.setdefault((t[1], t[2]), []).append(t[4])
        return self

    def _assign(self, name: str, op: str, val: str) -> None:
        old = self.vars.get(name)
        if op in (":=", "::="):
            self.vars[name] = (True, self.expand(val))
        elif op == "=" or (op == "?=" and old is None):
            self.vars[name] = (False, val)
        elif op == "+=":
            simple, text = old or (False, "")
            self.vars[name] = (simple, f"{text} {self.expand(val) if simple else val}")

    def value(self, name: str, depth: int = 0) -> str:
        simple, text = self.vars.get(name, (True, ""))
        return text if simple else self.expand(text, depth + 1)

    def target_value(self, target: str, name: str) -> str:
        return " ".join(self.expand(v) for v in self.targets.get((target, name), []))

    def expand(self, s: str, depth: int = 0) -> str:
        if depth > 20:
            return ""
        out, i = [], 0
        while i < len(s):
            if s[i] == "$" and i + 1 < len(s) and s[i + 1] in "({":
                j = _closing(s, i + 1)
                out.append(self._function(s[i + 2:j], depth))
                i = j + 1
            elif s[i] == "$" and i + 1 < len(s):
                i += 2  # $@, $$ and the like: nothing a flag needs
            else:
                out.append(s[i])
                i += 1
        return "".join(out)

    def _function(self, inner: str, depth: int) -> str:
        name, _, rest = inner.partition(" ")
        if name == "if":
            args = _split_args(rest)
            cond = self.expand(args[0], depth + 1).strip()
            pick = args[1] if cond else (args[2] if len(args) > 2 else "")
            return self.expand(pick, depth + 1) if len(args) > 1 else ""
        if name == "call":
            args = _split_args(rest)
            if args[0].strip() == "rustc-min-version" and len(args) > 1:
                need = self.expand(args[1], depth + 1).strip()
                return "y" if need.isdigit() and self.rustc_version >= int(need) else ""
            return ""
        if " " in inner.strip() or "," in inner:
            return ""  # shell, filter-out, ...: not used by the lint flags
        return self.value(inner.strip(), depth + 1)


def _closing(s: str, open_at: int) -> int:
    pair = {"(": ")", "{": "}"}[s[open_at]]
    level = 0
    for k in range(open_at, len(s)):
        if s[k] == s[open_at]:
            level += 1
        elif s[k] == pair:
            level -= 1
            if level == 0:
                return k
    return len(s) - 1


def _split_args(s: str) -> list[str]:
    """Top-level comma-separated arguments of a make function."""
    args, level, cur = [], 0, ""
    for ch in s:
        if ch in "({":
            level += 1
        elif ch in ")}":
            level -= 1
        if ch == "," and level == 0:
            args.append(cur)
            cur = ""
        else:
            cur += ch
    args.append(cur)
    return args


def rustc_version_number(version: str) -> int:
    """``rustc 1.95.0 (...)`` as the kernel's ``CONFIG_RUSTC_VERSION`` (109500)."""
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", version)
    return int(m[1]) * 100000 + int(m[2]) * 100 + int(m[3]) if m else 0


def lint_flags(root: Path, rustc_version: int, tool: str) -> LintFlags | None:
    """The lint flags of ``tool`` ("clippy": the kernel crate's compile, "rustdoc": its doc
    build) in the tree at ``root``; None when the tree has no top-level Makefile."""
    top = root / "Makefile"
    if not top.is_file():
        return None
    make = _Make(rustc_version).read(top.read_text(errors="replace"))
    tokens = make.value("KBUILD_RUSTFLAGS").split()
    source = "Makefile"
    sub = root / "rust/Makefile"
    if sub.is_file():
        make.read(sub.read_text(errors="replace"))
        t = KERNEL_TARGETS[tool]
        skip = set(make.target_value(t, "skip_flags").split())
        tokens = [x for x in tokens + make.target_value(t, "rustc_target_flags").split()
                  if x not in skip]
        source = "Makefile and rust/Makefile"
    editions = [x.split("=", 1)[1] for x in tokens if x.startswith("--edition=")]
    return LintFlags(editions[-1] if editions else "2021",
                     tuple(x for x in tokens if _LINT.match(x)), source)
