"""KUnit verdicts read from KTAP, for comparing the user-space run of the deliberately wrong
versions of buddy.c (harness/slips.py) with kunit.py's on UML (tests/records/kunit-uml/)."""

from __future__ import annotations


def verdicts(ktap: str) -> dict[str, str]:
    """Case name -> ok / not ok / skip, from a KTAP log (kunit.py's raw output or ours)."""
    out = {}
    for line in ktap.splitlines():
        s = line.split("] ", 1)[-1] if line.startswith("[") else line
        if not s.startswith("    ") or s.startswith("        "):
            continue
        s = s.strip()
        for head, what in (("not ok ", "not ok"), ("ok ", "ok")):
            if s.startswith(head):
                rest = s[len(head):].split(" ", 1)
                if len(rest) == 2:
                    name, _, directive = rest[1].partition(" # ")
                    out[name.strip()] = "skip" if directive.startswith("SKIP") else what
                break
    return out
