"""Core-layer spec cases as KUnit test cases in C, for a tree's own test file.

Each (case, params) becomes one ``static void`` test: the allocator calls of each step,
a ``KUNIT_ASSERT_*`` for each expectation and for the invariants the engine checks
after every step (counters, block shape, no overlap), and the teardown (free what is
held, ``avail == size``, fini).  Assertions end the test at the first that fails, as
the engine stops a case at its first failure, and each names the step as the engine
does (``step 2 (line 15)``), so the failing line of a case and of its KUnit test agree.

Spec text reaches the C only inside string literals (:func:`c_string`), never in
comments: a title may hold anything.  Numbers are evaluated at export where they can
be; expressions using a ``repeat`` variable are translated operator for operator
(their precedences are C's, every operand is a ``u64``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.engine.run import case_env
from harness.spec.expr import Expr
from harness.spec.model import (
    Alloc,
    Case,
    Check,
    Expect,
    Free,
    ParamSet,
    Repeat,
    ResetClear,
    Step,
    Trim,
)
from harness.trees.tree import KernelTree

ERRNOS = ("EINVAL", "ENOSPC", "ENOMEM")
FLAGS = {"contiguous": "CONTIGUOUS_ALLOCATION", "clear": "CLEAR_ALLOCATION",
         "trim_disable": "TRIM_DISABLE", "range": "RANGE_ALLOCATION",
         "topdown": "TOPDOWN_ALLOCATION"}
NAME_PREFIX = "harness_"  # of every exported test function
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NotExportable(Exception):
    """Why a case cannot become a KUnit test (the message is the reason)."""


@dataclass
class Exported:
    case_id: str
    params: str
    function: str  # the KUnit case's name
    code: str


@dataclass
class Export:
    tree: KernelTree
    tests: list[Exported] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (case id, reason)

    def c_source(self) -> str:
        """Helpers, tests and their case table, to paste into a KUnit file."""
        table = "".join(f"\tKUNIT_CASE({t.function}),\n" for t in self.tests)
        return (helpers(self.tree) + "".join(t.code for t in self.tests) +
                f"\nstatic struct kunit_case {NAME_PREFIX}cases[] = {{\n{table}\t{{}}\n}};\n")


def c_string(text: str) -> str:
    """``text`` as one C string literal: nothing in it can end the literal or become code."""
    out = []
    for byte in text.encode("utf-8"):
        c = chr(byte)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "?":
            out.append("\\?")  # no trigraphs
        elif 0x20 <= byte < 0x7F:
            out.append(c)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def export(cases: list[Case], tree: KernelTree) -> Export:
    result = Export(tree)
    used: set[str] = set()
    for case in cases:
        try:
            refuse(case, tree)
        except NotExportable as e:
            result.refused.append((case.id, str(e)))
            continue
        for ps in case.combinations():
            fn = _function_name(case.id, ps.id, used)
            try:
                code = _Writer(case, ps, tree, fn).write()
            except NotExportable as e:
                result.refused.append((f"{case.id}[{ps.id}]" if ps.id else case.id, str(e)))
                continue
            result.tests.append(Exported(case.id, ps.id, fn, code))
    return result


def refuse(case: Case, tree: KernelTree) -> None:
    """Raise NotExportable with the reason when ``case`` cannot be a KUnit test of ``tree``."""
    if case.layer != "core":
        raise NotExportable("a binding-layer case: it runs the Rust binding's API "
                            "(rust@), not the C a KUnit test calls")
    if case.buddy.fail_alloc is not None or any(
            getattr(s, "fail_alloc", None) is not None for s in _all_steps(case.steps)):
        raise NotExportable("fault injection (fail_alloc): KUnit has no way to fail the "
                            "allocator's n-th memory allocation")
    missing = sorted(set(case.requires) - tree.features)
    if missing:
        raise NotExportable(f"needs {', '.join(missing)}, which Linux {tree.version}'s "
                            f"{tree.api} lacks")
    if any(isinstance(s, Repeat) for r in _all_steps(case.steps) if isinstance(r, Repeat)
           for s in r.steps):
        raise NotExportable("a repeat inside a repeat")


def _all_steps(steps: list[Step]):
    for s in steps:
        yield s
        if isinstance(s, Repeat):
            yield from _all_steps(s.steps)


def _function_name(case_id: str, params: str, used: set[str]) -> str:
    base = NAME_PREFIX + re.sub(r"[^a-z0-9]+", "_", f"{case_id} {params}".lower()).strip("_")
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


def helpers(tree: KernelTree) -> str:
    """Static helpers the exported tests share (block lists, invariants), for ``tree``'s API."""
    p = tree.api
    return f"""
/* Helpers of the tests below, written by buddy-harness export kunit. */
static unsigned long harness_count(struct list_head *list)
{{
	struct {p}_block *block;
	unsigned long n = 0;

	list_for_each_entry(block, list, link)
		n++;
	return n;
}}

static struct {p}_block *harness_nth(struct list_head *list, unsigned long i)
{{
	struct {p}_block *block;

	list_for_each_entry(block, list, link)
		if (!i--)
			return block;
	return NULL;
}}

static u64 harness_total(struct {p} *mm, struct list_head *list)
{{
	struct {p}_block *block;
	u64 total = 0;

	list_for_each_entry(block, list, link)
		total += {p}_block_size(mm, block);
	return total;
}}

/* Every block: 0 size, 1 order, 2 offset aligned to value. */
static bool harness_each(struct {p} *mm, struct list_head *list, int what, u64 value)
{{
	struct {p}_block *block;

	list_for_each_entry(block, list, link) {{
		u64 got = {p}_block_offset(block) % value;

		if (what == 0)
			got = {p}_block_size(mm, block);
		else if (what == 1)
			got = {p}_block_order(block);

		if (got != (what == 2 ? 0 : value))
			return false;
	}}
	return true;
}}

static bool harness_within(struct {p} *mm, struct list_head *list, u64 lo, u64 hi)
{{
	struct {p}_block *block;

	list_for_each_entry(block, list, link)
		if ({p}_block_offset(block) < lo)
			return false;
		else if ({p}_block_offset(block) + {p}_block_size(mm, block) > hi)
			return false;
	return true;
}}

static bool harness_sorted(struct list_head *list, bool descending)
{{
	struct {p}_block *block, *prev = NULL;

	list_for_each_entry(block, list, link) {{
		if (prev && descending && {p}_block_offset(prev) < {p}_block_offset(block))
			return false;
		if (prev && !descending && {p}_block_offset(prev) > {p}_block_offset(block))
			return false;
		prev = block;
	}}
	return true;
}}

struct harness_span {{
	u64 start, end;
}};

/* The spans of every block of the lists, sorted by start (shell sort: no recursion). */
static struct harness_span *
harness_spans(struct {p} *mm, struct list_head **lists, unsigned long n_lists, unsigned long *n)
{{
	struct harness_span *spans, tmp;
	struct {p}_block *block;
	unsigned long i, j, gap, count = 0;

	for (i = 0; i < n_lists; i++)
		count += harness_count(lists[i]);
	*n = count;
	spans = kmalloc_array(count ? count : 1, sizeof(*spans), GFP_KERNEL);
	if (!spans)
		return NULL;
	j = 0;
	for (i = 0; i < n_lists; i++)
		list_for_each_entry(block, lists[i], link) {{
			spans[j].start = {p}_block_offset(block);
			spans[j].end = spans[j].start + {p}_block_size(mm, block);
			j++;
		}}
	for (gap = count / 2; gap > 0; gap /= 2)
		for (i = gap; i < count; i++) {{
			tmp = spans[i];
			for (j = i; j >= gap && spans[j - gap].start > tmp.start; j -= gap)
				spans[j] = spans[j - gap];
			spans[j] = tmp;
		}}
	return spans;
}}

static bool harness_contiguous(struct {p} *mm, struct list_head *list)
{{
	unsigned long i, n;
	struct harness_span *s = harness_spans(mm, &list, 1, &n);
	bool ok = s != NULL;

	for (i = 1; ok && i < n; i++)
		ok = s[i - 1].end == s[i].start;
	kfree(s);
	return ok;
}}

/* What the engine checks after every step: block shape, inside the space, no overlap. */
static bool harness_sound(struct {p} *mm, struct list_head **lists, unsigned long n_lists)
{{
	struct {p}_block *block;
	unsigned long i, n;
	struct harness_span *s;
	bool ok = true;

	for (i = 0; i < n_lists; i++)
		list_for_each_entry(block, lists[i], link) {{
			u64 size = {p}_block_size(mm, block);

			if (size != mm->chunk_size << {p}_block_order(block))
				ok = false;
			else if ({p}_block_offset(block) % size)
				ok = false;
			else if ({p}_block_offset(block) + size > mm->size)
				ok = false;
		}}
	s = harness_spans(mm, lists, n_lists, &n);
	if (!s)
		return false;
	for (i = 1; ok && i < n; i++)
		ok = s[i - 1].end <= s[i].start;
	kfree(s);
	return ok;
}}

static u64 harness_live(struct {p} *mm, struct list_head **lists, unsigned long n_lists)
{{
	u64 total = 0;
	unsigned long i;

	for (i = 0; i < n_lists; i++)
		total += harness_total(mm, lists[i]);
	return total;
}}
"""


@dataclass
class _List:
    c: str  # the C lvalue of its list_head, e.g. "l_a" or "t_a[v_i]"
    template: str | None = None  # for arrays: the name with its {var}


class _Writer:
    """One test function for one (case, params)."""

    def __init__(self, case: Case, ps: ParamSet, tree: KernelTree, fn: str) -> None:
        self.case, self.ps, self.tree, self.fn = case, ps, tree, fn
        self.p, self.P = tree.api, tree.prefix
        self.env = case_env(case, ps)
        b = case.buddy
        self.env["size"] = b.size.eval(self.env)
        self.env["chunk_size"] = b.chunk_size.eval(self.env)
        self.env["base_offset"] = b.base_offset.eval(self.env) if b.base_offset else 0
        self.loop_vars: dict[str, str] = {}  # repeat variable in scope -> C name
        self.all_loop_vars: list[str] = []
        self.repeat_length = 1
        self.plain: dict[str, str] = {}  # allocation name -> C list
        self.arrays: dict[str, tuple[str, str, int]] = {}  # template -> (C array, var, length)
        self.anonymous: list[str] = []
        self.body: list[str] = []
        self.indent = 1

    # -- names and numbers ------------------------------------------------------------
    def expr(self, e: Expr, *, signed: bool = False) -> str:
        """C for ``e``: its value when it has no repeat variable, else a u64 expression."""
        if not (e.names() & set(self.loop_vars)):
            value = e.eval(self.env, signed=signed)
            if 0 <= value < 1 << 31:
                return str(value)  # a literal: KUnit shows it once, as written
            return f"{value}LL" if value < 0 else f"0x{value:x}ULL"
        stack: list[str] = []
        for op in e.postfix():
            if op[0] == "num":
                stack.append(f"0x{op[1]:x}ULL")
            elif op[0] == "name":
                stack.append(self.loop_vars.get(op[1]) or f"0x{self.env[op[1]]:x}ULL")
            elif op[0] == "neg":
                stack.append(f"(-{stack.pop()})")
            else:
                right, left = stack.pop(), stack.pop()
                stack.append(f"({left} {'/' if op[1] == '//' else op[1]} {right})")
        return stack[0]

    def list_for(self, template: str, *, create: bool) -> str:
        """The C list of an allocation name (``a``, ``a{i}``, or ``a3`` of a ``a{i}``)."""
        if _PLACEHOLDER.search(template):
            m = _PLACEHOLDER.search(template)
            assert m
            var = m[1]
            if var not in self.loop_vars or len(_PLACEHOLDER.findall(template)) > 1:
                raise NotExportable(f"the name '{template}' is not one {{var}} of its repeat")
            if template not in self.arrays:
                if not create:
                    raise NotExportable(f"'{template}' is used before it is allocated")
                length = self.repeat_length
                self.arrays[template] = (f"t{len(self.arrays)}", var, length)
            return f"{self.arrays[template][0]}[{self.loop_vars[var]}]"
        for tmpl, (arr, var, length) in self.arrays.items():
            rx = re.escape(tmpl).replace(re.escape("{" + var + "}"), r"(\d+)")
            m = re.fullmatch(rx, template)
            if m and int(m[1]) < length:
                return f"{arr}[{int(m[1])}]"
        if template not in self.plain:
            if not create:
                raise NotExportable(f"'{template}' is freed or trimmed but never allocated")
            self.plain[template] = f"l{len(self.plain) + len(self.anonymous)}"
        return self.plain[template]

    # -- output -------------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        self.body.append("\t" * self.indent + text if text else "")

    def where(self, path: str, step_line: int) -> tuple[str, list[str]]:
        """The engine's words for a step, as a format and its arguments (repeat indices)."""
        fmt = re.sub(r"\[(\w+)\]", "[%llu]", path)
        args = [f"(unsigned long long){self.loop_vars[v]}" for v in re.findall(r"\[(\w+)\]",
                                                                               path)]
        return f"step {fmt} (line {step_line})", args

    def check(self, kind: str, left: str, right: str, path: str, step: Step,
              what: str) -> None:
        """One assertion, its message naming the step and what was expected."""
        fmt, args = self.where(path, step.pos.line)
        text = c_string(f"{fmt}: {what.replace('%', '%%')}")
        more = "".join(f", {a}" for a in args)
        if kind in ("TRUE", "FALSE"):
            self.line(f"KUNIT_ASSERT_{kind}_MSG(test, {left}, {text}{more});")
        else:
            self.line(f"KUNIT_ASSERT_{kind}_MSG(test, {left}, {right}, {text}{more});")

    def invariants(self, path: str, step: Step) -> None:
        self.check("TRUE", f"harness_sound(&mm, lists, {self.n_lists_c})", "", path, step,
                   "invariant: every live block well-formed, inside the space, no overlap")
        self.check("EQ", "mm.avail", f"mm.size - harness_live(&mm, lists, {self.n_lists_c})",
                   path, step, "invariant: avail is size minus the live blocks")
        if self.p == "gpu_buddy":
            self.check("LE", "mm.clear_avail", "mm.avail", path, step,
                       "invariant: clear_avail <= avail")

    # -- steps ---------------------------------------------------------------------------
    def write(self) -> str:
        case, p = self.case, self.p
        b = case.buddy
        size, chunk = self.env["size"], self.env["chunk_size"]
        self.n_lists_c = "n_lists"
        self._steps(case.steps, "")
        decl = [f"static void {self.fn}(struct kunit *test)", "{",
                f"\tstatic const char case_id[] = {c_string(case.id)};",
                f"\tstatic const char params[] = {c_string(self.ps.id)};",
                f"\tstatic const char title[] = {c_string(case.title)};",
                f"\tstruct {p} mm;", "\tu64 before = 0, start = 0;", "\tint err = 0;",
                "\tunsigned long n_lists = 0, k;"]
        decl += [f"\tu64 {c} = 0;" for c in self.all_loop_vars]
        lists = [*self.plain.values(), *self.anonymous]
        decl += [f"\tLIST_HEAD({name});" for name in lists]
        decl += [f"\tstruct list_head *{arr};" for arr, _v, _n in self.arrays.values()]
        total = len(lists) + sum(n for _a, _v, n in self.arrays.values())
        decl.append("\tstruct list_head **lists;")
        init = ["", "\t(void)before; (void)start; (void)err; (void)k;",
                '\tkunit_info(test, "%s%s%s: %s\\n", case_id, params[0] ? " " : "", params, '
                "title);",
                f"\tlists = kunit_kcalloc(test, {max(total, 1)}, sizeof(*lists), GFP_KERNEL);",
                "\tKUNIT_ASSERT_NOT_NULL(test, lists);"]
        for name in lists:
            init.append(f"\tlists[n_lists++] = &{name};")
        for arr, _v, length in self.arrays.values():
            init.append(f"\t{arr} = kunit_kcalloc(test, {length}, sizeof(*{arr}), GFP_KERNEL);")
            init.append(f"\tKUNIT_ASSERT_NOT_NULL(test, {arr});")
            init.append(f"\tfor (k = 0; k < {length}; k++) {{")
            init.append(f"\t\tINIT_LIST_HEAD(&{arr}[k]);")
            init.append(f"\t\tlists[n_lists++] = &{arr}[k];")
            init.append("\t}")
        create = f"{p}_init(&mm, 0x{size:x}ULL, 0x{chunk:x}ULL)"
        if b.error is not None:
            msg = c_string(f"line {b.pos.line}: creating the allocator: expected error {b.error}")
            init += [f"\terr = {create};", f"\tif (!err)\n\t\t{p}_fini(&mm);",
                     f"\tKUNIT_EXPECT_EQ_MSG(test, err, -{b.error}, {msg});"]
            return "\n" + "\n".join(decl + init) + "\n}\n"
        msg = c_string(f"line {b.pos.line}: creating the allocator: expected success")
        init.append(f"\tKUNIT_ASSERT_EQ_MSG(test, {create}, 0, {msg});")
        leak = c_string("step teardown: leak: after freeing everything avail is not size")
        tail = ["", "\tfor (k = 0; k < n_lists; k++)  /* teardown */",
                f"\t\t{p}_free_list(&mm, lists[k]{', 0' if p == 'gpu_buddy' else ''});",
                f"\tKUNIT_ASSERT_EQ_MSG(test, mm.avail, mm.size, {leak});",
                f"\t{p}_fini(&mm);"]
        return "\n" + "\n".join(decl + init + [""] + self.body + tail) + "\n}\n"

    def _steps(self, steps: list[Step], prefix: str, until: str | None = None) -> None:
        for idx, step in enumerate(steps, 1):
            path = f"{prefix}{idx}"
            if isinstance(step, Repeat):
                self._repeat(step, path)
            else:
                self._step(step, path, until)

    def _step(self, step: Step, path: str, until: str | None) -> None:
        p, P = self.p, self.P
        exp = step.expect or Expect(pos=step.pos)
        self.line("before = mm.avail;")
        errs = True
        if isinstance(step, Alloc):
            if step.mode is not None:
                raise NotExportable("a binding-layer mode on a core step")
            lst = self.list_for(step.name, create=True) if step.name else self._anon()
            flags = " | ".join(f"{P}_{FLAGS[f]}" for f in step.flags) or "0"
            start = self.expr(step.start) if step.start is not None else "0"
            end = self.expr(step.end) if step.end is not None else "0"
            mbs = self.expr(step.min_block_size) if step.min_block_size else \
                f"0x{self.env['chunk_size']:x}ULL"
            self.line(f"err = {p}_alloc_blocks(&mm, {start}, {end}, {self.expr(step.size)}, "
                      f"{mbs}, &{lst}, {flags});")
        elif isinstance(step, Trim):
            lst = self.list_for(step.name, create=False)
            if step.start is not None and not self.tree.trim_start:
                raise NotExportable(f"{p}_block_trim of Linux {self.tree.version} takes no start")
            if step.start is not None:
                self.line(f"start = {self.expr(step.start)};")
            arg = ("&start" if step.start is not None else "NULL") + ", " \
                if self.tree.trim_start else ""
            self.line(f"err = {p}_block_trim(&mm, {arg}{self.expr(step.size)}, &{lst});")
        elif isinstance(step, Free):
            lst = self.list_for(step.name, create=False)
            if p == "gpu_buddy":
                flag = f"{P}_CLEARED" if step.cleared else "0"
                self.line(f"{p}_free_list(&mm, &{lst}, {flag});")
            else:
                self.line(f"{p}_free_list(&mm, &{lst});")
            self.line(f"INIT_LIST_HEAD(&{lst});")
            errs, lst = False, None
        elif isinstance(step, ResetClear):
            self.line(f"{p}_reset_clear(&mm, {'true' if step.is_clear else 'false'});")
            errs, lst = False, None
        elif isinstance(step, Check):
            errs, lst = False, None
            for key, e in step.values.items():
                field_ = {"avail": "mm.avail", "clear_avail": "mm.clear_avail",
                          "size": "mm.size", "chunk_size": "mm.chunk_size"}.get(key)
                if field_ is None:  # base_offset: always 0 on the core layer
                    continue
                if key == "clear_avail":
                    self._needs_clear_avail()
                self.check("EQ", field_, self.expr(e), path, step,
                           f"check: expected {key} {e.shown}")
        else:  # pragma: no cover - the loader knows every verb
            raise NotExportable(f"unknown step {step!r}")
        if errs:
            if until and exp.error is None:
                self.line(f"if (err == -{until}) {{")
                self.indent += 1
                self.invariants(path, step)
                self.line("break;")
                self.indent -= 1
                self.line("}")
            want = f"-{exp.error}" if exp.error else "0"
            self.check("EQ", "err", want, path, step,
                       f"expected {'error ' + exp.error if exp.error else 'success'}")
        self._expect(exp, lst, path, step)
        self.invariants(path, step)

    def _needs_clear_avail(self) -> None:
        if self.p != "gpu_buddy":
            raise NotExportable(f"checks clear_avail, which {self.p} of Linux "
                                f"{self.tree.version} does not have")

    def _anon(self) -> str:
        name = f"l{len(self.plain) + len(self.anonymous)}"
        self.anonymous.append(name)
        return name

    def _expect(self, exp: Expect, lst: str | None, path: str, step: Step) -> None:
        L = f"&{lst}" if lst else None
        if exp.blocks is not None and L:
            self.check("EQ", f"harness_count({L})", str(len(exp.blocks)), path, step,
                       f"expected {len(exp.blocks)} block(s)")
            for i, want in enumerate(exp.blocks):
                blk = f"harness_nth({L}, {i})"
                for key, e in want.items():
                    got = {"offset": f"{self.p}_block_offset({blk})",
                           "order": f"(u64){self.p}_block_order({blk})",
                           "size": f"{self.p}_block_size(&mm, {blk})"}[key]
                    self.check("EQ", got, self.expr(e), path, step,
                               f"block {i}: expected {key} {e.shown}")
        if exp.count is not None and L:
            self.check("EQ", f"(u64)harness_count({L})", self.expr(exp.count), path, step,
                       f"expected {exp.count.shown} block(s)")
        if exp.total is not None and L:
            self.check("EQ", f"harness_total(&mm, {L})", self.expr(exp.total), path, step,
                       f"expected total {exp.total.shown}")
        for key, e in (exp.each or {}).items():
            if L:
                what = {"size": 0, "order": 1, "aligned": 2}[key]
                self.check("TRUE", f"harness_each(&mm, {L}, {what}, {self.expr(e)})", "", path,
                           step, f"expected each block {key} {e.shown}")
        if exp.contiguous is not None and L:
            self.check("TRUE" if exp.contiguous else "FALSE", f"harness_contiguous(&mm, {L})",
                       "", path, step, f"expected contiguous: {str(exp.contiguous).lower()}")
        if exp.within is not None and L:
            lo, hi = (self.expr(x) for x in exp.within)
            self.check("TRUE", f"harness_within(&mm, {L}, {lo}, {hi})", "", path, step,
                       f"expected every block within [{exp.within[0].shown}, "
                       f"{exp.within[1].shown})")
        if exp.sorted is not None and L:
            down = "true" if exp.sorted == "descending" else "false"
            self.check("TRUE", f"harness_sorted({L}, {down})", "", path, step,
                       f"expected blocks sorted {exp.sorted}")
        self._counters(exp, path, step)

    def _counters(self, exp: Expect, path: str, step: Step) -> None:
        if exp.avail is not None:
            self.check("EQ", "mm.avail", self.expr(exp.avail), path, step,
                       f"expected avail {exp.avail.shown}")
        if exp.avail_delta is not None:
            self.check("EQ", "(s64)(mm.avail - before)",
                       f"(s64){self.expr(exp.avail_delta, signed=True)}", path, step,
                       f"expected avail_delta {exp.avail_delta.shown}")
        if exp.clear_avail is not None:
            self._needs_clear_avail()
            self.check("EQ", "mm.clear_avail", self.expr(exp.clear_avail), path, step,
                       f"expected clear_avail {exp.clear_avail.shown}")

    def _repeat(self, step: Repeat, path: str) -> None:
        var = step.var
        c = f"v_{re.sub(r'[^A-Za-z0-9_]', '_', var)}"
        bound = step.count if step.count is not None else step.max
        length = bound.eval(self.env) if bound is not None else self.case.limits.until
        if length > 1 << 20:
            raise NotExportable(f"a repeat of {length} iterations")
        self.repeat_length = max(length, 1)
        self.loop_vars[var] = c
        if c not in self.all_loop_vars:
            self.all_loop_vars.append(c)
        self.line("{")
        self.indent += 1
        self.line("u64 before_repeat = mm.avail;")
        self.line("")
        if step.count is not None:
            self.line(f"for ({c} = 0; {c} < 0x{length:x}ULL; {c}++) {{")
        else:
            self.line(f"for ({c} = 0; ; {c}++) {{")
        self.indent += 1
        if step.count is None:
            self.check("LT", c, f"0x{length:x}ULL", path, step,
                       f"repeat: {length} iterations ran without {step.until}")
        self._steps(step.steps, f"{path}[{var}].", until=step.until)
        self.indent -= 1
        self.line("}")
        if step.count is None and step.expect is not None and step.expect.iterations is not None:
            self.check("EQ", c, self.expr(step.expect.iterations), path, step,
                       f"repeat: expected {step.expect.iterations.shown} whole iterations "
                       f"before {step.until}")
        if step.expect is not None:
            self.line("before = before_repeat;")
            self._counters(Expect(pos=step.expect.pos, avail=step.expect.avail,
                                  avail_delta=step.expect.avail_delta,
                                  clear_avail=step.expect.clear_avail), path, step)
        self.indent -= 1
        self.line("}")
        del self.loop_vars[var]


def patched(kf_text: str, table: str, exported: Export) -> str:
    """The tree's KUnit file with the exported tests added: helpers and tests before its case
    table ``table``, each test listed at the end of that table."""
    head = re.search(rf"^static struct kunit_case\s+{re.escape(table)}\s*\[\s*\]\s*=\s*\{{",
                     kf_text, re.M)
    if head is None:
        raise NotExportable(f"the KUnit file has no case table '{table}'")
    end = re.compile(r"^\s*\{\s*\}\s*,?\s*\n", re.M).search(kf_text, head.end())
    if end is None:
        raise NotExportable(f"the case table '{table}' has no {{}} terminator")
    body = helpers(exported.tree) + "".join(t.code for t in exported.tests) + "\n"
    cases = "".join(f"\tKUNIT_CASE({t.function}),\n" for t in exported.tests)
    return (kf_text[:head.start()] + body.lstrip("\n") + "\n" +
            kf_text[head.start():end.start()] + cases + kf_text[end.start():])


def case_table(kf_text: str) -> str:
    """The name of the first case table a suite of the file uses."""
    m = re.search(r"\.test_cases\s*=\s*(\w+)", kf_text)
    if m is None:
        raise NotExportable("the KUnit file registers no suite with .test_cases")
    return m[1]
