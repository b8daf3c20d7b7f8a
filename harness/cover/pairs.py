"""Interaction coverage: which pairs of input classes the corpus exercises.

Every alloc step of every core-layer case is classified from the call the
engine evaluated and the counters the backend reported just before it (never
from the case's text), by the classes of ``specs/interactions.yaml`` the
backend's kernel has.  A step counts only when its case checks what the call
returned (``blocks``, ``count``, ``total``, ``each``, ``contiguous``,
``within``, ``sorted`` or, for a failed call, ``error``) and the counters after
it (``avail``, ``avail_delta`` or ``clear_avail`` on the step or on a ``check``
right after it), and only when those checks held: a step at or after the
first failed check of its case does not count.  Binding-layer cases are left
out: their calls go through the binding, which refuses some before the C.

Each pair of classes is then exercised (by which cases), waived (the file's
reason) or missing; a class no checked step is in is listed as never
exercised, whatever its waivers say.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from harness.cover.interactions import Interactions, env_of
from harness.engine.run import case_env
from harness.engine.trace import Outcome
from harness.spec.model import Alloc, Case, Check, ParamSet, Repeat, Step

RESULT_KEYS = ("blocks", "count", "total", "each", "contiguous", "within", "sorted", "error")
COUNTER_KEYS = ("avail", "avail_delta", "clear_avail")
COUNTED = ("pass", "xfail")  # an xfail counts up to its first failed check


@dataclass
class PairReport:
    kernel: str
    backend: str
    classes: list[str]
    exercised: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    waived: dict[tuple[str, str], str] = field(default_factory=dict)
    missing: list[tuple[str, str]] = field(default_factory=list)
    never: list[str] = field(default_factory=list)  # classes no checked step is in
    stale: list[str] = field(default_factory=list)  # exact waivers of exercised pairs
    steps: int = 0  # checked alloc steps classified
    unchecked: int = 0  # alloc steps that ran but do not count

    @property
    def total(self) -> int:
        return len(self.exercised) + len(self.waived) + len(self.missing)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.never and not self.stale

    def figure(self) -> str:
        return (f"pairs of input classes on {self.kernel}: {len(self.exercised)} exercised, "
                f"{len(self.waived)} waived, {len(self.missing)} missing of {self.total} "
                f"({len(self.classes)} classes, {self.steps} checked alloc steps)")

    def to_json(self) -> dict:
        return {
            "kernel": self.kernel, "backend": self.backend, "classes": self.classes,
            "steps": self.steps, "unchecked_steps": self.unchecked,
            "exercised": [{"pair": list(p), "cases": c} for p, c in self.exercised.items()],
            "waived": [{"pair": list(p), "reason": r} for p, r in self.waived.items()],
            "missing": [list(p) for p in self.missing],
            "never_exercised": self.never, "stale_waivers": self.stale,
            "figure": {"exercised": len(self.exercised), "waived": len(self.waived),
                       "missing": len(self.missing), "total": self.total},
        }


def step_at(case: Case, path: str) -> tuple[Step, list[Step], int] | None:
    """The step a trace path names ("3", "2[5].1"), its sibling list and its index there."""
    steps: list[Step] = case.steps
    parts = path.split(".")
    for k, part in enumerate(parts):
        idx = int(part.split("[")[0]) - 1
        if not 0 <= idx < len(steps):
            return None
        step = steps[idx]
        if k == len(parts) - 1:
            return step, steps, idx
        if not isinstance(step, Repeat):
            return None
        steps = step.steps
    return None


def checked(step: Alloc, siblings: list[Step], idx: int) -> bool:
    """The case checks what the call returned and the counters after it."""
    exp = step.expect
    if exp is None or not any(getattr(exp, k) is not None for k in RESULT_KEYS):
        return False
    if any(getattr(exp, k) is not None for k in COUNTER_KEYS):
        return True
    nxt = siblings[idx + 1] if idx + 1 < len(siblings) else None
    return isinstance(nxt, Check) and any(k in nxt.values for k in ("avail", "clear_avail"))


def _order(path: str) -> tuple:
    """A trace path ("3", "2[5].1") as a key that sorts in execution order."""
    out = []
    for part in path.split("."):
        step, _, rest = part.partition("[")
        out.append((int(step), int(rest.rstrip("]")) if rest else -1))
    return tuple(out)


Item = tuple[Case, ParamSet, Outcome]


def collect(items: list[Item], inter: Interactions) -> tuple[
        dict[tuple[str, str], set[str]], set[str], int, int]:
    """Pairs -> the case ids whose checked steps are in both classes; classes seen; counts."""
    pair_set = set(inter.pairs())
    refused = inter.refused()
    by_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    seen: set[str] = set()
    steps = unchecked = 0
    for case, ps, out in items:
        trace = out.trace
        if case.layer != "core" or trace is None or out.status not in COUNTED:
            continue
        asked, chunk = allocator_of(case, ps)
        stop = trace.failed_path
        for st in trace.steps:
            if st.call is None:
                continue
            if stop is not None and stop != "teardown" and _order(st.path) >= _order(stop):
                unchecked += 1
                continue
            found = step_at(case, st.path)
            if found is None or not isinstance(found[0], Alloc) or not checked(*found):
                unchecked += 1
                continue
            steps += 1
            env = env_of(st.call, space=asked - asked % chunk, asked_space=asked, chunk=chunk,
                         before=st.before)
            ids = inter.classify(env)
            seen.update(ids)
            why = refused.intersection(ids)
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    if why and a not in why and b not in why:
                        continue  # refused before b mattered
                    key = (a, b) if (a, b) in pair_set else (b, a)
                    if key in pair_set:
                        by_pair[key].add(case.id)
    return by_pair, seen, steps, unchecked


def allocator_of(case: Case, ps: ParamSet) -> tuple[int, int]:
    """(size asked for, chunk size) of the case's allocator with these params."""
    env = case_env(case, ps)
    return case.buddy.size.eval(env), case.buddy.chunk_size.eval(env)


def report(items: list[Item], inter: Interactions, *, kernel: str,
           backend: str) -> PairReport:
    by_pair, seen, steps, unchecked = collect(items, inter)
    rep = PairReport(kernel, backend, [c.id for c in inter.classes()], steps=steps,
                     unchecked=unchecked)
    for pair in inter.pairs():
        cases = sorted(by_pair.get(pair, ()))
        waiver = next((w for w in inter.waivers if w.covers(*pair)), None)
        if cases:
            rep.exercised[pair] = cases
            if waiver is not None and waiver.exact:
                rep.stale.append(f"{waiver.pos}: waiver for {pair[0]} x {pair[1]}, which "
                                 f"{', '.join(cases[:3])} exercise (remove the waiver)")
        elif waiver is not None:
            rep.waived[pair] = waiver.reason
        else:
            rep.missing.append(pair)
    # A class waived with everything on this kernel (refused before any search) needs no case.
    whole = {w.sides[0] if w.sides[1] == "*" else w.sides[1] for w in inter.waivers
             if "*" in w.sides}
    rep.never = [c for c in rep.classes if c not in seen and c not in whole]
    return rep


def text_report(rep: PairReport, *, every: bool = False) -> str:
    rows = [rep.figure()]
    if rep.never:
        rows.append(f"classes never exercised ({len(rep.never)}): {', '.join(rep.never)}")
    if rep.missing:
        rows.append(f"missing pairs ({len(rep.missing)}):")
        rows += [f"  {a} x {b}" for a, b in rep.missing]
    rows += rep.stale
    if every:
        rows.append("exercised pairs:")
        for (a, b), cases in rep.exercised.items():
            more = f" (+{len(cases) - 3})" if len(cases) > 3 else ""
            rows.append(f"  {a} x {b}: {', '.join(cases[:3])}{more}")
        rows.append("waived pairs:")
        rows += [f"  {a} x {b}: {r}" for (a, b), r in rep.waived.items()]
    return "\n".join(rows)
