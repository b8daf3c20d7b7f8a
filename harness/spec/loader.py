"""From YAML files on disk to :class:`~harness.spec.model.Case` objects.

Each file goes through four stages, and the first problem found is one
:class:`SpecError` at its ``FILE:LINE:COL``:

1. :mod:`harness.spec.yamlpos`: UTF-8, YAML syntax, tags, duplicate keys, limits;
2. structure, checked here key by key so messages can say what was expected
   (unknown keys with a "did you mean", wrong types, bad expressions);
3. :mod:`harness.spec.semantic`: layers, names, identifiers, constant values;
4. the JSON Schema (``schema.json``, shipped for editors), which must agree with
   stages 2 and 3: it should never object to a case they accept, and if it ever
   does, its objection is reported in plain words at the node it names.

Within a file with a ``cases:`` list every case is checked on its own, so one
bad case does not hide the others; :func:`load_file` raises the first error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends.base import CASE_FEATURES, ERRNOS, FAIL_ALLOC, FLAG_BITS
from harness.spec import limits, yamlpos
from harness.spec.expr import Expr
from harness.spec.model import (
    LAYERS,
    MODES,
    SOURCE_KINDS,
    Alloc,
    BuddySpec,
    Case,
    Check,
    Expect,
    Free,
    Limits,
    Repeat,
    ResetClear,
    Source,
    Step,
    Trim,
)
from harness.spec.position import Pos, SpecError
from harness.spec.semantic import Where, check_case, did_you_mean
from harness.spec.yamlpos import YNode

if TYPE_CHECKING:
    import jsonschema

SPEC_SUFFIXES = (".yaml", ".yml")
EXPECTATIONS_DIR = "expectations"
WAIVERS_FILE = "doc-waivers.yaml"  # documented items no case covers, not cases
INTERACTIONS_FILE = "interactions.yaml"  # the input classes of cover --pairs, not cases

CASE_KEYS = ("id", "title", "source", "layer", "requires", "params", "buddy", "steps", "tags",
             "cites", "limits")
CASE_REQUIRED = ("id", "title", "source", "buddy", "steps")
SOURCE_KEYS = ("kind", "ref", "quote")
BUDDY_KEYS = ("base_offset", "size", "chunk_size", "expect", "fail_alloc")
VERBS = ("alloc", "free", "trim", "reset_clear", "check", "repeat")
ALLOC_KEYS = ("as", "mode", "start", "end", "size", "min_block_size", "flags", "fail_alloc")
FREE_KEYS = ("name", "cleared")
TRIM_KEYS = ("name", "size", "start", "fail_alloc")
CHECK_KEYS = ("avail", "clear_avail", "size", "chunk_size", "base_offset")
REPEAT_KEYS = ("count", "until", "max", "as", "steps")
BLOCK_KEYS = ("offset", "order", "size")
EACH_KEYS = ("size", "order", "aligned")
SORT_ORDERS = ("ascending", "descending")
COUNTER_EXPECT = ("avail", "avail_delta", "clear_avail")
BLOCK_EXPECT = ("blocks", "count", "total", "each", "contiguous", "within", "sorted")
# Which expectations each kind of step may carry.
EXPECT_KEYS = {
    "alloc": ("error",) + BLOCK_EXPECT + COUNTER_EXPECT,
    "trim": ("error",) + BLOCK_EXPECT + COUNTER_EXPECT,
    "free": COUNTER_EXPECT,
    "reset_clear": COUNTER_EXPECT,
    "check": COUNTER_EXPECT,
    "repeat-count": COUNTER_EXPECT,
    "repeat-until": ("iterations",) + COUNTER_EXPECT,
    "buddy": ("error",),
}
ALL_EXPECT = ("error",) + BLOCK_EXPECT + COUNTER_EXPECT + ("iterations",)

ID_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NAME_RE = re.compile(r"(?:[A-Za-z0-9_.-]|\{[A-Za-z_][A-Za-z0-9_]*\})+")


@dataclass
class LoadResult:
    cases: list[Case] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


# -- public API ----------------------------------------------------------------


def load_file(path: str | Path) -> list[Case]:
    """Every case of one file; raises the first :class:`SpecError`."""
    loaded, errors = _load_one(Path(path))
    cases = _unique_ids(loaded, {}, errors)
    if errors:
        raise errors[0]
    return cases


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Load every spec file under ``paths``; errors of one file never stop the others."""
    result = LoadResult(files=iter_spec_files(paths))
    seen: dict[str, _Loaded] = {}
    for path in result.files:
        loaded, errors = _load_one(path)
        result.errors.extend(errors)
        result.cases.extend(_unique_ids(loaded, seen, result.errors))
    return result


def iter_spec_files(paths: Iterable[str | Path]) -> list[Path]:
    """Spec files named by ``paths``: files as given, directories searched recursively.

    In a directory, ``*.yaml``/``*.yml`` files are taken in sorted order; hidden
    directories and files, the ``expectations/`` directory directly under the
    given directory (per-backend divergence lists, not cases) and its
    ``doc-waivers.yaml`` are skipped.
    """
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        path = Path(p)
        found = [path] if not path.is_dir() else _walk(path)
        for f in found:
            key = os.path.realpath(f)  # never raises: a symlink loop is refused when read
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def _walk(root: Path) -> list[Path]:
    out = []
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root).parts
        if any(part.startswith(".") for part in rel):
            continue
        if (rel[0] == EXPECTATIONS_DIR and len(rel) > 1) or rel in ((WAIVERS_FILE,),
                                                                    (INTERACTIONS_FILE,)):
            continue
        if f.suffix in SPEC_SUFFIXES and f.is_file():
            out.append(f)
    return out


@dataclass
class _Loaded:
    case: Case
    id_pos: Pos


def _unique_ids(loaded: list[_Loaded], seen: dict[str, _Loaded],
                errors: list[SpecError]) -> list[Case]:
    kept = []
    for item in loaded:
        first = seen.get(item.case.id)
        if first is not None:
            errors.append(SpecError(item.id_pos, f"duplicate id '{item.case.id}' (first at "
                                    f"{first.id_pos.file}:{first.id_pos.line})",
                                    "ids are unique across every loaded file"))
            continue
        seen[item.case.id] = item
        kept.append(item.case)
    return kept


# -- one file ------------------------------------------------------------------


def _load_one(path: Path) -> tuple[list[_Loaded], list[SpecError]]:
    loaded, errors = _load_one_raw(path)
    return loaded, [_one_line(e) for e in errors]


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line(e: SpecError) -> SpecError:
    """Messages quote what the file says; a newline or control character in it is escaped."""
    message, hint = _printable(e.message), _printable(e.hint) if e.hint else e.hint
    return e if (message, hint) == (e.message, e.hint) else SpecError(e.pos, message, hint)


def _load_one_raw(path: Path) -> tuple[list[_Loaded], list[SpecError]]:
    file = str(path)
    try:
        data = yamlpos.read(path)
        root = yamlpos.load(yamlpos.decode(data, file), file)
    except SpecError as e:
        return [], [e]
    digest = hashlib.sha256(f"{file}\0".encode() + data).hexdigest()[:32]
    if "cases" in root.value:
        try:
            items = _case_list(root)
        except SpecError as e:
            return [], [e]
    else:
        items = [root]
    cases, errors = [], []
    for node in items:
        try:
            cases.append(_build_case(node))
        except SpecError as e:
            errors.append(e)
        else:
            cases[-1].case.digest = digest
    return cases, errors


def _case_list(root: YNode) -> list[YNode]:
    for key in root.value:
        if key != "cases":
            raise SpecError(root.key_pos[key], f"unexpected key '{key}' beside `cases:`",
                            "a file with `cases:` holds nothing else; put each case's keys "
                            "inside its list item")
    node = root.value["cases"]
    if node.kind != "list":
        raise SpecError(node.pos, f"cases must be a list of case mappings, got "
                                  f"{node.describe()}")
    if not node.value:
        raise SpecError(node.pos, "cases is empty", "add a case or delete the file")
    for item in node.value:
        if item.kind != "map":
            raise SpecError(item.pos, f"each item of cases must be a case mapping, got "
                                      f"{item.describe()}")
    return node.value


def _build_case(node: YNode) -> _Loaded:
    b = _Builder()
    case = b.case(node)
    check_case(case, b.where)
    problem = schema_problem(case.raw, node)
    if problem is not None:
        raise problem
    return _Loaded(case, b.where.of(case, "id="))


# -- the JSON Schema ---------------------------------------------------------


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("harness.spec").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    # Imported when a file is validated: a run whose corpus comes from the cache
    # (harness.spec.cache) never pays for jsonschema's import.
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def schema_problem(case_raw: dict[str, Any], node: YNode) -> SpecError | None:
    """The schema's first objection to one case, as a one-line SpecError, or None."""
    errors = list(_validator().iter_errors({"cases": [case_raw]}))
    if not errors:
        return None
    err = min(errors, key=lambda e: (len(list(e.absolute_path)), str(e.message)))
    err = _deepest(err)
    path = list(err.absolute_path)[2:]  # drop "cases", 0
    target, where = node, node.pos
    for part in path:
        if target.kind == "map" and part in target.value:
            where = target.key_pos[part]
            target = target.value[part]
        elif target.kind == "list" and isinstance(part, int) and part < len(target.value):
            target = target.value[part]
            where = target.pos
        else:
            break
    if target.kind != "scalar":
        where = target.pos
    what = "/".join(str(p) for p in path) or "case"
    return SpecError(where, f"{what}: {_schema_words(err)}", "does not match the spec schema")


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    while err.context:
        err = max(err.context, key=lambda e: len(list(e.absolute_path)))
    return err


def _schema_words(err: jsonschema.ValidationError) -> str:
    v = err.validator
    if v in ("additionalProperties", "unevaluatedProperties"):
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"unknown key '{extra[0]}'" if extra else "unknown key"
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return f"missing key '{missing[0]}'" if missing else "missing key"
    if v == "enum":
        return "expected one of: " + ", ".join(map(str, err.validator_value))
    if v == "type":
        return f"expected {err.validator_value}"
    return err.message.splitlines()[0][:160]


# -- structure ---------------------------------------------------------------


def _keys(node: YNode, allowed: tuple[str, ...], what: str,
          required: tuple[str, ...] = ()) -> None:
    for key in node.value:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or "expected one of: " + ", ".join(allowed)
            raise SpecError(node.key_pos[key], f"unknown key '{key}' in {what}", hint)
    for key in required:
        if key not in node.value:
            raise SpecError(node.pos, f"missing key '{key}' in {what}")


def _map(node: YNode, what: str) -> YNode:
    if node.kind != "map":
        raise SpecError(node.pos, f"{what} must be a mapping, got {node.describe()}")
    return node


def _list(node: YNode, what: str, *, nonempty: bool = False) -> list[YNode]:
    if node.kind != "list":
        raise SpecError(node.pos, f"{what} must be a list, got {node.describe()}")
    if nonempty and not node.value:
        raise SpecError(node.pos, f"{what} is empty")
    return node.value


def _str(node: YNode, what: str, *, nonempty: bool = True) -> str:
    if node.kind != "scalar" or not isinstance(node.value, str):
        hint = "quote it" if node.kind == "scalar" and node.value is not None else None
        raise SpecError(node.pos, f"{what} must be a string, got {node.describe()}", hint)
    if nonempty and not node.value.strip():
        raise SpecError(node.pos, f"{what} is empty")
    return node.value


def _bool(node: YNode, what: str) -> bool:
    if node.kind != "scalar" or not isinstance(node.value, bool):
        raise SpecError(node.pos, f"{what} must be true or false, got {node.describe()}")
    return node.value


def _choice(node: YNode, what: str, options: Iterable[str]) -> str:
    options = tuple(options)
    value = _str(node, what)
    if value not in options:
        hint = did_you_mean(value, options) or "expected one of: " + ", ".join(options)
        raise SpecError(node.pos, f"unknown {what} '{value}'", hint)
    return value


def _fail_alloc(v: dict[str, YNode]) -> Expr | None:
    if "fail_alloc" not in v:
        return None
    e = expr_of(v["fail_alloc"], "fail_alloc")
    if not e.names() and e.eval({}) == 0:
        raise SpecError(v["fail_alloc"].pos, "fail_alloc counts from 1 (the first allocation)",
                        "give the number of the allocation that must fail")
    return e


def injects(step: Step) -> bool:
    """Whether the step, or one inside it, asks for an allocation to fail."""
    if isinstance(step, Repeat):
        return any(injects(s) for s in step.steps)
    return getattr(step, "fail_alloc", None) is not None


def expr_of(node: YNode, what: str) -> Expr:
    """An expression from a scalar node: a plain int is its decimal text."""
    if node.kind == "scalar" and node.value is not None and not isinstance(node.value, bool):
        if isinstance(node.value, int):
            text = str(node.value)
            return Expr(text, node.pos, exact=text == node.text)
        # inexact (escapes, several lines): errors point at the scalar itself
        pos = node.text_pos if node.exact and node.text_pos else node.pos
        return Expr(node.value, pos, exact=node.exact)
    raise SpecError(node.pos, f"{what} must be a number or an expression, got "
                              f"{node.describe()}", "e.g. 16M or 1G - 4K")


class _Builder:
    """Builds one case, recording where each field was written for the semantic checks."""

    def __init__(self) -> None:
        self.where = Where()
        self.layer = "binding"

    def _note(self, obj: object, node: YNode) -> None:
        self.where.note(obj, "", node.pos)
        for key, kpos in node.key_pos.items():
            self.where.note(obj, key, kpos)
            child = node.value[key]
            self.where.note(obj, f"{key}=", child.pos)
            if child.kind == "list":
                for i, item in enumerate(child.value):
                    self.where.note(obj, f"{key}[{i}]", item.pos)

    def case(self, node: YNode) -> Case:
        _keys(node, CASE_KEYS, "case", CASE_REQUIRED)
        v = node.value
        cid = _str(v["id"], "id")
        if not ID_RE.fullmatch(cid):
            raise SpecError(v["id"].pos, f"id '{cid}' is not lowercase dotted words",
                            "use only a-z, 0-9, '.' and '-', starting and ending with a "
                            "letter or digit")
        title = _str(v["title"], "title")
        if "\n" in title.strip():
            raise SpecError(v["title"].pos, "title must be one line")
        source = self.source(_map(v["source"], "source"))
        if "layer" in v:
            self.layer = _choice(v["layer"], "layer", LAYERS)
        requires = self.requires(v["requires"]) if "requires" in v else frozenset()
        params = self.params(v["params"]) if "params" in v else {}
        buddy = self.buddy(_map(v["buddy"], "buddy"))
        steps = self.steps(v["steps"], "steps", allow_empty=True)
        if not steps and buddy.error is None:
            raise SpecError(v["steps"].pos, "steps is empty",
                            "only a case whose buddy creation must fail may have no steps")
        tags = self.tags(v["tags"]) if "tags" in v else ()
        lim = limits.parse(v["limits"]) if "limits" in v else Limits()
        cite_nodes = _list(v["cites"], "cites", nonempty=True) if "cites" in v else []
        cites = tuple(_str(c, "cites item") for c in cite_nodes)
        for i, item in enumerate(cites):
            if item in cites[:i]:
                raise SpecError(cite_nodes[i].pos, f"cites lists '{item}' twice")
        if buddy.fail_alloc is not None or any(injects(st) for st in steps):
            requires = requires | {FAIL_ALLOC}
        case = Case(id=cid, title=title.strip(), source=source, buddy=buddy, steps=steps,
                    pos=node.pos, layer=self.layer, requires=requires, params=params,
                    tags=tags, cites=cites, limits=lim,
                    cite_pos=tuple(c.pos for c in cite_nodes), raw=node.to_plain())
        self._note(case, node)
        return case

    def source(self, node: YNode) -> Source:
        _keys(node, SOURCE_KEYS, "source", ("kind", "ref"))
        v = node.value
        kind = _choice(v["kind"], "source kind", SOURCE_KINDS)
        ref = _str(v["ref"], "source ref")
        quote = _str(v["quote"], "source quote") if "quote" in v else None
        return Source(kind, ref, quote, v["quote"].pos if quote is not None else None)

    def requires(self, node: YNode) -> frozenset[str]:
        seen: dict[str, YNode] = {}
        for item in _list(node, "requires"):
            name = _choice(item, "feature", sorted(CASE_FEATURES))
            if name in seen:
                raise SpecError(item.pos, f"feature '{name}' is listed twice in requires")
            seen[name] = item
        return frozenset(seen)

    def params(self, node: YNode) -> dict[str, list[Expr]]:
        _map(node, "params")
        out: dict[str, list[Expr]] = {}
        for name, values in node.value.items():
            kpos = node.key_pos[name]
            if not IDENT_RE.fullmatch(name):
                raise SpecError(kpos, f"param name '{name}' is not an identifier",
                                "use letters, digits and '_', not starting with a digit")
            items = _list(values, f"params.{name}", nonempty=True)
            exprs: list[Expr] = []
            for item in items:
                e = expr_of(item, f"a value of params.{name}")
                if any(x.text == e.text for x in exprs):
                    raise SpecError(item.pos, f"value '{e.text}' is listed twice in "
                                              f"params.{name}")
                exprs.append(e)
            out[name] = exprs
            self.where.note(out, name, kpos)
        self.where.note(out, "", node.pos)
        return out

    def buddy(self, node: YNode) -> BuddySpec:
        _keys(node, BUDDY_KEYS, "buddy", ("size", "chunk_size"))
        v = node.value
        error = None
        if "expect" in v:
            exp = self.expect(v["expect"], "buddy")
            if exp.error is None:
                raise SpecError(v["expect"].pos, "buddy expect needs error",
                                "e.g. expect: {error: EINVAL} when creation must fail")
            error = exp.error
        spec = BuddySpec(
            pos=node.pos,
            size=expr_of(v["size"], "buddy size"),
            chunk_size=expr_of(v["chunk_size"], "buddy chunk_size"),
            base_offset=expr_of(v["base_offset"], "buddy base_offset")
            if "base_offset" in v else None,
            error=error,
            fail_alloc=_fail_alloc(v),
        )
        self._note(spec, node)
        return spec

    def tags(self, node: YNode) -> tuple[str, ...]:
        out: list[str] = []
        for item in _list(node, "tags"):
            tag = _str(item, "a tag")
            if tag in out:
                raise SpecError(item.pos, f"tag '{tag}' is listed twice")
            out.append(tag)
        return tuple(out)

    # -- steps ------------------------------------------------------------
    def steps(self, node: YNode, what: str, *, allow_empty: bool = False) -> list[Step]:
        items = _list(node, what, nonempty=not allow_empty)
        return [self.step(_map(item, "a step")) for item in items]

    def step(self, node: YNode) -> Step:
        verbs = [k for k in node.value if k in VERBS]
        for key in node.value:
            if key in VERBS or key == "expect":
                continue
            if verbs:
                raise SpecError(node.key_pos[key], f"unknown key '{key}' in a {verbs[0]} step",
                                "a step holds one verb and an optional expect")
            hint = did_you_mean(key, VERBS) or "verbs: " + ", ".join(VERBS)
            raise SpecError(node.key_pos[key], f"unknown verb '{key}'", hint)
        if not verbs:
            raise SpecError(node.pos, "step has no verb", "verbs: " + ", ".join(VERBS))
        if len(verbs) > 1:
            raise SpecError(node.key_pos[verbs[1]], f"step has two verbs, '{verbs[0]}' and "
                                                    f"'{verbs[1]}'", "give each its own step")
        verb = verbs[0]
        body = node.value[verb]
        step: Step = getattr(self, "v_" + verb)(body, node)
        if "expect" in node.value:
            kind = verb
            if isinstance(step, Repeat):
                kind = "repeat-count" if step.count is not None else "repeat-until"
            step.expect = self.expect(node.value["expect"], kind)
        self._note(step, node)
        if body.kind == "map":
            self._note_body(step, body)
        return step

    def _note_body(self, step: Step, body: YNode) -> None:
        for key, kpos in body.key_pos.items():
            self.where.note(step, key, kpos)
            child = body.value[key]
            self.where.note(step, f"{key}=", child.pos)
            if child.kind == "list":
                for i, item in enumerate(child.value):
                    self.where.note(step, f"{key}[{i}]", item.pos)

    def v_alloc(self, node: YNode, step: YNode) -> Alloc:
        _keys(_map(node, "alloc"), ALLOC_KEYS, "alloc", ("size",))
        v = node.value
        flags: list[str] = []
        if "flags" in v:
            for item in _list(v["flags"], "alloc flags"):
                flag = _choice(item, "flag", tuple(FLAG_BITS))
                if flag in flags:
                    raise SpecError(item.pos, f"flag '{flag}' is listed twice")
                flags.append(flag)
        return Alloc(
            pos=step.pos,
            size=expr_of(v["size"], "alloc size"),
            name=self.name(v["as"], "alloc as") if "as" in v else None,
            mode=_choice(v["mode"], "mode", MODES) if "mode" in v else None,
            start=expr_of(v["start"], "alloc start") if "start" in v else None,
            end=expr_of(v["end"], "alloc end") if "end" in v else None,
            min_block_size=expr_of(v["min_block_size"], "alloc min_block_size")
            if "min_block_size" in v else None,
            flags=tuple(flags),
            fail_alloc=_fail_alloc(v),
        )

    def v_free(self, node: YNode, step: YNode) -> Free:
        if node.kind == "map":
            _keys(node, FREE_KEYS, "free", ("name",))
            v = node.value
            cleared = _bool(v["cleared"], "free cleared") if "cleared" in v else False
            return Free(pos=step.pos, name=self.name(v["name"], "free name"), cleared=cleared)
        if node.kind == "scalar" and isinstance(node.value, str):
            return Free(pos=step.pos, name=self.name(node, "free"))
        raise SpecError(node.pos, f"free takes a name or {{name, cleared}}, got "
                                  f"{node.describe()}")

    def v_trim(self, node: YNode, step: YNode) -> Trim:
        _keys(_map(node, "trim"), TRIM_KEYS, "trim", ("name", "size"))
        v = node.value
        return Trim(pos=step.pos, name=self.name(v["name"], "trim name"),
                    size=expr_of(v["size"], "trim size"),
                    start=expr_of(v["start"], "trim start") if "start" in v else None,
                    fail_alloc=_fail_alloc(v))

    def v_reset_clear(self, node: YNode, step: YNode) -> ResetClear:
        return ResetClear(pos=step.pos, is_clear=_bool(node, "reset_clear"))

    def v_check(self, node: YNode, step: YNode) -> Check:
        _keys(_map(node, "check"), CHECK_KEYS, "check")
        if not node.value:
            raise SpecError(node.pos, "check is empty",
                            "give any of: " + ", ".join(CHECK_KEYS))
        return Check(pos=step.pos, values={k: expr_of(n, f"check {k}")
                                           for k, n in node.value.items()})

    def v_repeat(self, node: YNode, step: YNode) -> Repeat:
        _keys(_map(node, "repeat"), REPEAT_KEYS, "repeat", ("steps",))
        v = node.value
        if "count" in v and "until" in v:
            raise SpecError(node.key_pos["until"], "repeat takes count or until, not both")
        if "count" not in v and "until" not in v:
            raise SpecError(node.pos, "repeat needs count or until",
                            "{count: N, steps: [...]} or {until: ENOSPC, max: N, steps: [...]}")
        if "max" in v and "until" not in v:
            raise SpecError(node.key_pos["max"], "max is only for repeat with until",
                            "a counted repeat runs exactly count times")
        var = "i"
        if "as" in v:
            var = _str(v["as"], "repeat as")
            if not IDENT_RE.fullmatch(var):
                raise SpecError(v["as"].pos, f"repeat variable '{var}' is not an identifier")
        return Repeat(
            pos=step.pos,
            steps=self.steps(v["steps"], "repeat steps"),
            var=var,
            count=expr_of(v["count"], "repeat count") if "count" in v else None,
            until=_choice(v["until"], "errno", ERRNOS) if "until" in v else None,
            max=expr_of(v["max"], "repeat max") if "max" in v else None,
        )

    def name(self, node: YNode, what: str) -> str:
        name = _str(node, what)
        if not NAME_RE.fullmatch(name):
            raise SpecError(node.pos, f"'{name}' is not a valid allocation name",
                            "use letters, digits, '_', '.', '-' and {var} for a repeat "
                            "variable")
        return name

    # -- expectations -------------------------------------------------------
    def expect(self, node: YNode, kind: str) -> Expect:
        _map(node, "expect")
        allowed = EXPECT_KEYS[kind]
        for key, kpos in node.key_pos.items():
            if key in allowed:
                continue
            if key not in ALL_EXPECT:
                hint = did_you_mean(key, ALL_EXPECT) or "expected one of: " + ", ".join(allowed)
                raise SpecError(kpos, f"unknown expectation '{key}'", hint)
            raise SpecError(kpos, f"'{key}' cannot be expected of {_KIND_WORDS[kind]}",
                            "expected one of: " + ", ".join(allowed))
        v = node.value
        exp = Expect(pos=node.pos)
        if "error" in v:
            exp.error = _choice(v["error"], "errno", ERRNOS)
            for key in BLOCK_EXPECT:
                if key in v:
                    raise SpecError(node.key_pos[key], f"'{key}' with error: a step that must "
                                    "fail returns no blocks", f"drop '{key}'")
        if "blocks" in v:
            exp.blocks = []
            for item in _list(v["blocks"], "expect blocks"):
                _keys(_map(item, "a block of expect blocks"), BLOCK_KEYS, "a block")
                if not item.value:
                    raise SpecError(item.pos, "a block expectation is empty",
                                    "give any of: offset, order, size")
                exp.blocks.append({k: expr_of(n, f"block {k}") for k, n in item.value.items()})
        for key in ("count", "total", "avail", "clear_avail", "iterations"):
            if key in v:
                setattr(exp, key, expr_of(v[key], f"expect {key}"))
        if "avail_delta" in v:
            exp.avail_delta = expr_of(v["avail_delta"], "expect avail_delta")
        if "each" in v:
            each = v["each"]
            _keys(_map(each, "expect each"), EACH_KEYS, "expect each")
            if not each.value:
                raise SpecError(each.pos, "expect each is empty",
                                "give any of: " + ", ".join(EACH_KEYS))
            exp.each = {k: expr_of(n, f"each {k}") for k, n in each.value.items()}
        if "contiguous" in v:
            exp.contiguous = _bool(v["contiguous"], "expect contiguous")
        if "within" in v:
            items = _list(v["within"], "expect within")
            if len(items) != 2:
                raise SpecError(v["within"].pos, f"within takes [start, end], got "
                                                 f"{len(items)} item(s)")
            exp.within = (expr_of(items[0], "within start"), expr_of(items[1], "within end"))
        if "sorted" in v:
            exp.sorted = _choice(v["sorted"], "sort order", SORT_ORDERS)
        self._note(exp, node)
        return exp


_KIND_WORDS = {
    "free": "a free step",
    "reset_clear": "a reset_clear step",
    "check": "a check step",
    "repeat-count": "a counted repeat",
    "repeat-until": "a repeat",
    "buddy": "buddy creation",
    "alloc": "an alloc step",
    "trim": "a trim step",
}
