"""Per kernel version: the cases whose quote that version's tree does not contain.

Such a case still runs, but its row says so: its documentation is not what
the case quotes (changed, or not written yet), so a pass or a failure there
is not evidence about the quoted sentence.
"""

from __future__ import annotations

from harness.spec.model import Case

MARK = "quote absent"


def absent_by_backend(cases: list[Case], opened: dict) -> dict[str, dict[str, str]]:
    """backend name -> {case id: kernel release} for each native backend's tree."""
    # The documentation's parsers once the backends are open: not on the way to the build.
    from harness.docs import quotes, tree

    out: dict[str, dict[str, str]] = {}
    for name, backend in opened.items():
        kt = backend.tree
        root = getattr(kt, "root", None)
        if root is None:
            continue
        try:
            docs = tree.load(str(root))
        except tree.NoTree:
            continue
        out[name] = {c.id: docs.version for c in cases if quotes.absent_in(c, docs)}
    return out


def note(absent: dict[str, dict[str, str]], backend: str, case_id: str) -> str:
    version = absent.get(backend, {}).get(case_id)
    return f"{MARK} from {version}" if version else ""


def summary(absent: dict[str, dict[str, str]]) -> list[str]:
    return [f"{name}: {len(ids)} case(s) quote documentation that {next(iter(ids.values()))} "
            f"does not have ({MARK})" for name, ids in absent.items() if ids]
