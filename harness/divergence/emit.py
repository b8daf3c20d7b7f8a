"""A divergent program as a core-layer YAML case (SPEC_FORMAT.md, source kind regression),
and the regression case's frame that both layers' cases share.

Every step expects what the side that did not crash (the first backend when
neither did) returned, so the case passes there and fails on the other
backend at the divergent step.  Operations the batch treated as no-ops (a
free or trim of an allocation that failed or was freed already) are left
out: the engine would refuse them.
"""

from __future__ import annotations

import hashlib

import yaml

from harness.backends.base import FLAG_BITS, OpResult
from harness.divergence.pipeline import Finding
from harness.engine.checks import fmt

_FEATURE_OF_FLAG = {"contiguous": "contiguous", "clear": "clear", "trim_disable": "trim_disable"}


def _num(n: int) -> int | str:
    text = fmt(n)
    return n if text.isdigit() else text


def _expect(r: OpResult, *, blocks: bool) -> dict:
    exp: dict = {}
    if not r.ok:
        exp["error"] = r.errno
    elif blocks:
        exp["blocks"] = [{"offset": _num(b.offset), "order": b.order, "size": _num(b.size)}
                         for b in r.blocks]
    exp["avail"] = _num(r.avail)
    exp["clear_avail"] = _num(r.clear_avail)
    return exp


def case_dict(finding: Finding, names: tuple[str, str], *, seed: int | None = None) -> dict:
    prog, d = finding.program, finding.divergence
    truth = finding.sides[1] if finding.sides[0].crash and not finding.sides[1].crash \
        else finding.sides[0]
    ops = prog.with_teardown()
    last = len(prog.ops) - 1 if d.index < 0 else min(d.index, len(ops) - 1)
    steps: list[dict] = []
    requires: set[str] = set()
    live: dict[int, bool] = {}
    handle = 0
    for i, op in enumerate(ops[: last + 1]):
        r = truth.results[i] if i < len(truth.results) else None
        a = op.args
        if op.verb == "alloc":
            name = f"h{handle}"
            live[handle] = r is not None and r.ok
            handle += 1
            flags = [f for f, bit in FLAG_BITS.items() if a["flags"] & bit]
            requires |= {_FEATURE_OF_FLAG[f] for f in flags if f in _FEATURE_OF_FLAG}
            body: dict = {"as": name}
            if a["start"] or a["end"]:
                body |= {"start": _num(a["start"]), "end": _num(a["end"])}
            body |= {"size": _num(a["size"]), "min_block_size": _num(a["min_block_size"])}
            if flags:
                body["flags"] = flags
            step: dict = {"alloc": body}
        elif op.verb == "free":
            if not live.get(a["handle"]):
                continue
            live[a["handle"]] = False
            if a.get("cleared"):
                requires.add("clear")
                step = {"free": {"name": f"h{a['handle']}", "cleared": True}}
            else:
                step = {"free": f"h{a['handle']}"}
        elif op.verb == "trim":
            if not live.get(a["handle"]):
                continue
            requires.add("trim")
            body = {"name": f"h{a['handle']}", "size": _num(a["size"])}
            if a.get("start") is not None:
                body["start"] = _num(a["start"])
            step = {"trim": body}
        elif op.verb == "reset_clear":
            requires.add("reset_clear")
            step = {"reset_clear": bool(a["is_clear"])}
        else:
            continue
        if r is not None:
            step["expect"] = _expect(r, blocks=op.verb in ("alloc", "trim"))
        steps.append(step)
    what = "creation" if d.index < 0 else d.what
    title = (f"{names[0]} and {names[1]} disagree on {what} after a {len(steps)}-step core "
             "sequence found by differential fuzzing")
    buddy: dict = {"base_offset": 0, "size": _num(prog.size), "chunk_size": _num(prog.chunk)}
    if truth.create_errno:
        buddy["expect"] = {"error": truth.create_errno}
        steps = []
    return regression_case("fuzz", title, finding, names, seed, "core", sorted(requires),
                           buddy, steps)


def regression_case(prefix: str, title: str, finding: Finding, names: tuple[str, str],
                    seed: int | None, layer: str, requires: list[str], buddy: dict,
                    steps: list[dict]) -> dict:
    """A case of source kind regression for a finding of either layer, its id
    ``regression.PREFIX-DIGEST`` a digest of the rest, so the same case gets the same id."""
    body: dict = {
        "title": title,
        "source": {"kind": "regression",
                   "ref": f"buddy-harness fuzz --backend {names[0]} --backend {names[1]}"
                          + (f" --seed {seed}" if seed is not None else ""),
                   "quote": finding.divergence.describe(names)[:200]},
        "layer": layer,
    }
    if requires:
        body["requires"] = requires
    body["buddy"] = buddy
    body["steps"] = steps
    digest = hashlib.sha1(yaml.safe_dump(body, sort_keys=True).encode()).hexdigest()[:10]
    return {"id": f"regression.{prefix}-{digest}"} | body


class _Flow(yaml.SafeDumper):
    pass


def _represent_dict(dumper: yaml.SafeDumper, data: dict):
    # Steps' inner maps and blocks print on one line each, like the hand-written cases.
    flow = all(not isinstance(v, (dict, list)) or (isinstance(v, list) and all(
        not isinstance(x, (dict, list)) for x in v)) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Flow.add_representer(dict, _represent_dict)


def to_yaml(finding: Finding, names: tuple[str, str], *, seed: int | None = None) -> str:
    case = case_dict(finding, names, seed=seed)
    a, b = finding.sides
    truth = b.backend if a.crash and not b.crash else a.backend
    head = f"# Found by differential fuzzing and shrunk; each step expects what {truth} did.\n"
    return head + yaml.dump(case, Dumper=_Flow, sort_keys=False, width=100,
                            default_flow_style=False, allow_unicode=True)
