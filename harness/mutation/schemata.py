"""Judging mutants of one schema build by replaying the unmutated run.

:class:`Plan` is built once: the schema of every chosen mutant compiled into one
worker (:mod:`harness.mutation.schema`; a mutant that does not compile is its own
verdict, found by a syntax check), then the corpus and the fuzz programs run on
it with no mutant active, recording what the worker was sent and answered
(:mod:`harness.mutation.replay`), the verdicts and the reference's side of
every fuzz program.  :func:`judge` then gives each mutant the verdict the
one-build-per-mutant runner (:class:`harness.mutation.runner.Bench`) gives it:
corpus items in corpus order until the first whose verdict differs from the
unmutated one (killed, or timed out when that verdict is the worker's timeout),
then the fuzz programs in order until one diverges from the reference.  An item
whose answers are the recorded ones keeps its recorded verdict; one whose answers
differ runs through the engine on a worker brought to the same state.
"""

from __future__ import annotations

import math
import pickle
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.backends.native import build as nbuild
from harness.backends.native.backend import NativeBackend
from harness.engine import run_case
from harness.mutation import reach, schema, schema_cache
from harness.mutation.mutants import Mutant
from harness.mutation.replay import RecordingWorker, Segment, Transcript, replay, restore
from harness.mutation.runner import (
    FIXED_UNITS,
    KILLED,
    MUTANT_FLAGS,
    NO_COMPILE,
    SURVIVED,
    TIMED_OUT,
    Verdict,
)
from harness.spec.loader import load_paths
from harness.trees.tree import KernelTree

MUTANT_ENV = "BH_MUTANT"
HANG_FACTOR = 10  # a request may take this many times its item's unmutated time
MIN_HANG = 0.5  # seconds: the least limit, whatever the unmutated time


class ReplayBackend(NativeBackend):
    """A native backend whose workers record what they are sent."""

    worker_type = RecordingWorker

    def worker(self) -> RecordingWorker:
        return super().worker()  # type: ignore[return-value]

    def discard(self) -> None:
        """End the worker without asking it to quit: one left mid-replay still has queued
        requests whose answers nobody reads, so it would never reach a quit request."""
        w, self._worker = self._worker, None
        self._finalizer.detach()
        if w is not None:
            w.kill()
            w.close()


@dataclass
class Plan:
    """Everything a process needs to judge mutants: the build, the corpus's recorded run."""

    tree: KernelTree
    specs: list[Path]
    timeout: float
    dir: Path  # the schema build (its worker is dir/buddy-worker)
    numbers: dict[str, int]  # mutant id -> BH_MUTANT value
    no_compile: dict[str, str]  # mutant id -> the compiler's first error
    baseline: dict[str, tuple[str, str]] = field(default_factory=dict)
    transcript: Transcript = field(default_factory=Transcript)
    fuzz_seed: int = 1
    reference_sides: list = field(default_factory=list)  # fuzz.Side of each program
    diverged: list[bool] = field(default_factory=list)  # the unmutated build diverges there

    def build(self, reaching: bool = False) -> nbuild.Build:
        """The schema's worker; ``reaching``: the one marking the mutants items reach."""
        worker = self.dir / (reach.WORKER if reaching else nbuild.WORKER)
        return nbuild.Build(self.dir, self.dir / nbuild.LIB, worker, False, 0.0, False)

    def save(self) -> Path:
        path = self.dir / "plan.pickle"
        path.write_bytes(pickle.dumps(self))
        return path

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# -- building -------------------------------------------------------------------------

def compile_schema(tree: KernelTree, source: str, mutants: list[Mutant],
                   log=lambda _m: None) -> tuple[Path, dict[str, int], dict[str, str]]:
    """The worker holding every mutant that compiles: (its directory, mutant numbers,
    the compiler's first error of each mutant that does not)."""
    out = Path(tempfile.mkdtemp(prefix="buddy-schema-"))
    cc, fl = nbuild.compiler(), [*nbuild.flags(tree, False), *MUTANT_FLAGS]
    inc = nbuild.include_flags(tree, out)
    rel = str(tree.source.relative_to(tree.root))
    src = out / tree.source.name
    # Warnings name the file as the tree does, whichever copy was compiled.
    where = f"-fmacro-prefix-map={out}/={Path(rel).parent}/"
    units = {obj: tree.root / unit if unit.startswith("tools/") else nbuild.CSRC / unit
             for obj, unit in FIXED_UNITS.items()}
    first = schema.render(source, mutants, rel, check=True)
    # The key names the build's own directory by a placeholder: it differs on every run.
    k = schema_cache.key(tree, first.text, list(units.values()),
                         [*fl, *(f.replace(str(out), "$OUT") for f in (*inc, where))])
    if (hit := schema_cache.restore(k, out)) is not None:
        numbers, no_compile, copied = hit
        log(f"schema: {len(numbers)} mutants in one build ({copied} as whole-function "
            f"copies), {len(no_compile)} do not compile (built before: from the cache)")
        return out, numbers, no_compile
    fixed = {}
    for obj, path in units.items():  # meanwhile, on the other core
        # Replays send many requests at once: the worker answers each at once (see replay).
        each = ["-DBH_FLUSH_EACH"] if obj == "worker_main.o" else []
        fixed[obj] = subprocess.Popen([cc, *fl, *each, *inc, "-c", str(path), "-o",
                                       str(out / obj)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    no_compile: dict[str, str] = {}
    copy: set[str] = set()
    ok = list(mutants)
    for _attempt in range(4):
        check = schema.render(source, ok, rel, check=True, copy_functions=frozenset(copy))
        src.write_text(check.text, encoding="utf-8")
        p = subprocess.run([cc, *fl, *inc, where, "-fsyntax-only", "-fmax-errors=0", str(src)],
                           capture_output=True, text=True)
        bad, stray = schema.broken(p.stdout + p.stderr, rel)
        by_number = {n: i for i, n in check.ids.items()}
        for n, error in bad.items():
            no_compile[by_number[n]] = error
        if stray:  # a region the schema could not hold: copy those functions whole
            spans = _function_lines(source)
            more = {name for line in stray for name, (a, b) in spans.items() if a <= line <= b}
            if not more - copy:
                raise nbuild.BuildError(f"the mutant schema does not compile: {p.stderr[:500]}")
            copy |= more
        ok = [m for m in ok if m.id not in no_compile]
        if not stray:
            break
    final = schema.render(source, ok, rel, copy_functions=frozenset(copy))
    src.write_text(final.text, encoding="utf-8")
    rt, size = reach.runtime_source(out, len(ok))
    # The schema twice at once, one per core: as judged, and marking what each item reaches.
    cmds = {"allocator.o": [cc, *fl, *inc, where, "-c", str(src)],
            "allocator-reach.o": [cc, *fl, *inc, where, "-DBH_REACH", "-c", str(src)],
            "reach.o": [cc, "-O2", *size, "-c", str(rt)]}
    procs_ = {obj: subprocess.Popen([*cmd, "-o", str(out / obj)], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
              for obj, cmd in cmds.items()}
    for obj, proc in {**fixed, **procs_}.items():
        text, _ = proc.communicate()
        if proc.returncode != 0:
            text = text if isinstance(text, str) else text.decode()
            what = "the mutant schema" if obj.startswith("allocator") else obj
            raise nbuild.BuildError(f"building {what} failed: {nbuild._first_error(text)}")
    fixed_objs = [str(out / o) for o in FIXED_UNITS]
    for worker, objs in ((nbuild.WORKER, ["allocator.o"]),
                         (reach.WORKER, ["allocator-reach.o", "reach.o"])):
        p = subprocess.run([cc, "-o", str(out / worker), *(str(out / o) for o in objs),
                            *fixed_objs], capture_output=True, text=True)
        if p.returncode != 0:
            raise nbuild.BuildError(f"linking the mutant schema failed: "
                                    f"{nbuild._first_error(p.stdout + p.stderr)}")
    log(f"schema: {len(ok)} mutants in one build ({len(final.copied)} as whole-function "
        f"copies), {len(no_compile)} do not compile")
    schema_cache.store(k, out, final.ids, no_compile, len(final.copied))
    return out, final.ids, no_compile


def _function_lines(source: str) -> dict[str, tuple[int, int]]:
    from harness.mutation.mutants import _strip_preprocessor, tokens

    toks = tokens(_strip_preprocessor(source))
    return {f.name: (source.count("\n", 0, f.decl) + 1, source.count("\n", 0, f.close) + 1)
            for f in schema.functions(source, toks).values()}


# -- the unmutated run ------------------------------------------------------------------

_items: dict[tuple, list] = {}  # loaded once per process (a pool process loads them early)


def items_of(specs: list[Path]) -> list:
    """The corpus items of ``specs`` in corpus order, as long as no file of them changed."""
    files = tuple(sorted((str(p), p.stat().st_mtime_ns) for d in specs
                         for p in (d.rglob("*") if d.is_dir() else [d]) if p.is_file()))
    if (key := (tuple(map(str, specs)), files)) not in _items:
        loaded = load_paths(specs)
        _items.clear()
        _items[key] = [(c, ps) for c in loaded.cases for ps in c.combinations()]
    return _items[key]


def record(plan: Plan, fuzz_examples: int, fuzz_elsewhere=None) -> None:
    """Run the corpus, then the fuzz programs, with no mutant active, keeping it all.
    ``fuzz_elsewhere``: a future of :func:`record_fuzz`'s result, recorded meanwhile by
    another process."""
    reached = reach.Reached(max(plan.numbers.values(), default=0))
    # The original code on the worker that marks what each item reaches: its answers are
    # the schema's with no mutant active (where they were not, a mutant's replay would
    # only differ there and run the item for real).
    backend = ReplayBackend(f"native@{plan.tree.version}", plan.tree, plan.build(True),
                            timeout=plan.timeout,
                            env={MUTANT_ENV: "0", reach.ENV: str(reached.path)})
    try:
        for case, ps in items_of(plan.specs):
            w = backend.worker()
            mark, cpu = w.mark(), _Cpu(backend)
            out = _verdict(case, ps, backend)
            plan.baseline[f"{case.id}[{ps.id}]"] = out
            seg = _segment(backend, w, mark)
            last = backend._worker
            plan.transcript.items.append(replace(
                seg, reached=reached.take(), ends_dead=last is None or last.dead is not None,
                cpu=cpu.since()))
    finally:
        backend.close()
        reached.close()
    programs, plan.reference_sides, plan.diverged = (
        fuzz_elsewhere.result() if fuzz_elsewhere is not None
        else record_fuzz(plan, fuzz_examples))
    plan.transcript.programs = programs


def record_fuzz(plan: Plan, examples: int) -> tuple[list[Segment], list, list[bool]]:
    """The fuzz programs on a worker of their own, with no mutant active: each program's
    segment, the reference's side of it, and whether the two diverge.  (A program starts
    from a fresh allocator, so what the worker ran before does not change its answers.)"""
    from harness.backends.reference import ReferenceBackend
    from harness.divergence import fuzz
    from harness.divergence.gen import program_at

    segs, sides, diverged = [], [], []
    backend = ReplayBackend(f"native@{plan.tree.version}", plan.tree, plan.build(),
                            timeout=plan.timeout, env={MUTANT_ENV: "0"})
    try:
        ref = ReferenceBackend()
        features = fuzz.common_features(ref, backend)
        for i in range(examples):
            prog = program_at(plan.fuzz_seed, i, features)
            w = backend.worker()
            mark, cpu = w.mark(), _Cpu(backend)
            mine = fuzz.run_side(backend, backend.name, prog)
            segs.append(replace(_segment(backend, w, mark), cpu=cpu.since()))
            theirs = fuzz.run_side(ref, "reference", prog)
            sides.append(theirs)
            diverged.append(fuzz.compare(theirs, mine) is not None)
    finally:
        backend.close()
    return segs, sides, diverged


def record_fuzz_at(path: Path, examples: int) -> tuple[list[Segment], list, list[bool]]:
    """:func:`record_fuzz` in a pool process, on the plan saved at ``path``."""
    return record_fuzz(load_plan(path), examples)


class _Cpu:
    """The CPU the backend's workers use from now: the live one's, and that of every one
    reaped since, less what the first had used before."""

    def __init__(self, backend: ReplayBackend) -> None:
        self.backend, self.w = backend, backend.worker()
        self.start, self.reaped = self.w._cpu(), _children_cpu()

    def since(self) -> float:
        cur = self.backend._worker
        live = cur._cpu() if cur is not None and cur.dead is None else 0.0
        # The first worker's use before counts in its live figure or, reaped, its rusage.
        spent = live + _children_cpu() - self.reaped - self.start
        return max(0.0, spent) if math.isfinite(spent) else math.inf  # inf: /proc unreadable


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _segment(backend: ReplayBackend, w: RecordingWorker, mark: tuple[int, int]) -> Segment:
    seg = w.since(mark)
    if backend._worker is not w or w.dead is not None:
        return Segment(seg.requests, seg.replies, replayable=False)
    return seg


def _verdict(case, ps, backend) -> tuple[str, str]:
    try:
        out = run_case(case, ps, backend)
        return (out.status, out.message)
    except Exception as e:  # noqa: BLE001 - a mutant can break what the engine assumes
        return ("error", f"{type(e).__name__}: {e}")


# -- judging --------------------------------------------------------------------------

def _limit(backend: ReplayBackend, seconds: float) -> None:
    """The hang limit of the backend's live worker and of any it starts next."""
    backend.timeout = seconds
    if backend._worker is not None:
        backend._worker.timeout = seconds


class Judge:
    """One process's judge: the plan, the corpus items, the reference backend."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.items = items_of(plan.specs)
        if len(self.items) != len(plan.transcript.items):
            raise RuntimeError("the corpus changed since the unmutated run was recorded")
        segs = plan.transcript.items + plan.transcript.programs
        slowest = max((s.cpu for s in segs if math.isfinite(s.cpu)), default=0.0)
        # A hang is judged on a limit that is a multiple of the unmutated run's time for
        # that item, and never below twice its slowest item (the slab budget's worth of
        # block structures, the most a request can allocate before it is stopped), so a
        # mutant that is slow but ends still ends; --timeout stays the ceiling.
        self.floor = max(MIN_HANG, 2 * slowest)

    def limit(self, segs: list[Segment]) -> float:
        """How long a request of these segments may take before it is a hang."""
        worst = max((s.cpu for s in segs), default=0.0)
        return min(self.plan.timeout, math.ceil(max(self.floor, HANG_FACTOR * worst) * 10) / 10)

    def judge(self, m: Mutant, fuzz_examples: int) -> Verdict:
        t0 = time.monotonic()
        if m.id in self.plan.no_compile:
            return Verdict(m.id, NO_COMPILE, self.plan.no_compile[m.id], 0.0)
        backend = ReplayBackend(f"mutant {m.id}", self.plan.tree, self.plan.build(),
                                timeout=self.plan.timeout,
                                env={MUTANT_ENV: str(self.plan.numbers[m.id])})
        try:
            v = self._corpus(m, backend)
            if v.status == SURVIVED and fuzz_examples:
                # The programs were recorded on a fresh worker (allocator handles count
                # from there), in another process while the corpus was recorded.
                backend.discard()
                v = self._fuzz(backend, v, fuzz_examples)
        finally:
            backend.close()
        v.seconds = time.monotonic() - t0
        return v

    def _walk(self, backend: ReplayBackend, segs: list[Segment], replayable: list[bool],
              real, hang, unreached=lambda _k: False) -> Verdict | None:
        """Segments in order: replayed in windows that double while the answers are the
        recorded ones; at the first that differs, a worker is brought to the state before
        it and ``real(k)`` runs it (a verdict ends the walk).  ``hang(k, request)`` decides
        a hang (None: run it for real).  A segment that cannot be replayed runs for real
        unless ``unreached(k)``: it never reaches the mutant's code and ends on a dead
        worker, so it ends as recorded, and the next starts on a fresh worker."""
        k, window = 0, 1
        while k < len(segs):
            if not replayable[k] and unreached(k):
                backend.discard()
                k += 1
                continue
            w = backend.worker()
            sent, answered = list(w.sent), len(w.got)
            if not replayable[k]:
                _limit(backend, self.limit([segs[k]]))
                v = real(k)
                if v is not None:
                    return v
                k += 1
                continue
            end = k
            while end < len(segs) and end - k < window and replayable[end]:
                end += 1
            r = replay(w, segs[k:end], [self.limit([s]) for s in segs[k:end]])
            if r.outcome == "same":
                k, window = end, window * 2
                continue
            at = k + r.at
            _limit(backend, self.limit([segs[at]]))  # the limit it hung on, for its message
            if r.outcome == "timeout" and (v := hang(at, r.request)) is not None:
                return v
            backend.discard()
            _limit(backend, self.plan.timeout)  # what it answered before, it answers again
            restore(backend.worker(), sent + [s.requests for s in segs[k:at]],
                    answered + sum(len(s.replies) for s in segs[k:at]))
            _limit(backend, self.limit([segs[at]]))
            v = real(at)
            if v is not None:
                return v
            k, window = at + 1, 1
        return None

    def _corpus(self, m: Mutant, backend: ReplayBackend) -> Verdict:
        baseline = self.plan.baseline
        segs = self.plan.transcript.items

        def changed(k: int, got: tuple[str, str]) -> Verdict | None:
            case, ps = self.items[k]
            key = f"{case.id}[{ps.id}]"
            if got == baseline[key]:
                return None
            status, message = got
            timed_out = status == "crash" and message.startswith("timeout")
            by = f"{key}: {status}" + (f" ({message[:160]})" if message else "")
            return Verdict(m.id, TIMED_OUT if timed_out else KILLED, by, 0.0, k + 1)

        def hang(k: int, request: str) -> Verdict | None:
            from harness.backends.native.worker import _verb

            return changed(k, ("crash", f"timeout: no answer after {backend.timeout:g} s "
                                        f"on '{_verb(request)}'"))

        n = self.plan.numbers[m.id]
        # A mutant that adds or removes lines moves the lines its warnings name even where
        # its code is not reached: it runs every item.
        moves = m.replacement.count("\n") != m.original.count("\n")

        def unreached(k: int) -> bool:
            return not moves and segs[k].ends_dead and n not in segs[k].reached

        v = self._walk(backend, segs, [s.replayable for s in segs],
                       lambda k: changed(k, _verdict(*self.items[k], backend)), hang,
                       unreached)
        return v or Verdict(m.id, SURVIVED, "", 0.0, len(self.items))

    def _fuzz(self, backend: ReplayBackend, v: Verdict, examples: int) -> Verdict:
        from harness.backends.reference import ReferenceBackend
        from harness.divergence import fuzz
        from harness.divergence.gen import program_at

        names = ("reference", backend.name)
        ref = ReferenceBackend()
        features = fuzz.common_features(ref, backend)
        seed = self.plan.fuzz_seed
        segs = self.plan.transcript.programs[:examples]

        def real(i: int) -> Verdict | None:
            prog = program_at(seed, i, features)
            mine = fuzz.run_side(backend, names[1], prog)
            if fuzz.compare(self.plan.reference_sides[i], mine) is None:
                return None
            found = fuzz.finding_at(ref, backend, names, prog, shrinking=False)
            timed_out = any(s.crash is not None and s.crash.kind == "timeout"
                            for s in found.sides)
            v.status = TIMED_OUT if timed_out else KILLED
            v.by = f"fuzz (seed {seed}): {found.divergence.describe(names)}"
            v.detail = {"program": found.program.describe()}
            v.fuzz_examples = i + 1
            return v

        # A hang runs for real too: the program's outcome says how it diverged.
        replayable = [s.replayable and not d for s, d in zip(segs, self.plan.diverged)]
        found = self._walk(backend, segs, replayable, real, lambda _k, _r: None)
        if found is None:
            v.fuzz_examples = examples
        return v


def plan(tree: KernelTree, source: str, specs: list[Path], timeout: float,
         mutants: list[Mutant], fuzz_examples: int, fuzz_seed: int, log=lambda _m: None,
         submit=None) -> Plan:
    """Build the schema of ``mutants`` and record the unmutated run on it.  ``submit``
    (a pool's): the fuzz programs are recorded in another process meanwhile."""
    d, numbers, no_compile = compile_schema(tree, source, mutants, log)
    p = Plan(tree, specs, timeout, d, numbers, no_compile, fuzz_seed=fuzz_seed)
    try:
        elsewhere = None
        if submit is not None and fuzz_examples:
            elsewhere = submit(record_fuzz_at, p.save(), fuzz_examples)
        record(p, fuzz_examples, elsewhere)
    except BaseException:
        p.close()
        raise
    return p


def load_plan(path: Path) -> Plan:
    return pickle.loads(path.read_bytes())
