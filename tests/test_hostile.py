"""Every verb and the pytest plugin, given arbitrary option values and small hostile spec files
(huge numbers, deep nesting, huge params products), ends within a bound, with an exit code
it documents and without a traceback.

Each example is a real process (``python -m tests.hostile_main`` is ``buddy-harness`` with the
miniatures' names usable as backends, so ``diff`` and ``fuzz`` get two working backends
without a kernel).  What is kept off the table, because a valid value of it is long by
design rather than unbounded: a valid ``bench`` run (the benchmark itself, ~10 s), ``fuzz``
without a budget (10 s by default) and kernel fetches (network).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.backends.registry import name_problem
from tests.miniatures import MINIATURES

ROOT = Path(__file__).resolve().parent.parent
BOUND = 60.0  # seconds a run may take: each case is held to its budget and limits
# Each example is a process or two: few per CI run (derandomized there); HOSTILE_EXAMPLES=N
# searches longer.
MANY = int(os.environ.get("HOSTILE_EXAMPLES", "0"))
EXAMPLES = settings(max_examples=MANY or 15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- spec files -----------------------------------------------------------------

# Half the values make sense where they stand, so that many files load and run.
GOOD = ["1", "2", "3", "10", "1000", "4K", "64K", "16M", "1G", "n", "i", "n * 1000", "i * i",
        "size // chunk_size", "((((1))))"]
BAD = ["0", "1T", "U64_MAX", "1 << 70", "1000000000", "18446744073709551615",
       "99999999999999999999", "-1", "j", "size", "chunk_size // 0", "1e9", "", "4k"]
value = st.one_of(st.sampled_from(GOOD), st.sampled_from(GOOD), st.sampled_from(BAD),
                  st.integers(-(2**66), 2**66))
name = st.sampled_from(["a", "b", "b{i}", "a{j}"])

leaf = st.one_of(
    st.builds(lambda n, s: {"alloc": {"as": n, "size": s}}, name, value),
    st.builds(lambda s, a, b: {"alloc": {"size": s, "mode": "range", "start": a, "end": b}},
              value, value, value),
    st.builds(lambda n: {"free": n}, name),
    st.builds(lambda v: {"check": {"avail": v}}, value),
    st.builds(lambda n, s: {"trim": {"name": n, "size": s}}, name, value),
    st.just({"reset_clear": True}),
)


def _repeat(body):
    counted = st.builds(lambda c, v, s: {"repeat": {"count": c, "as": v, "steps": s}},
                        value, st.sampled_from(["i", "j", "k"]), body)
    until = st.builds(lambda m, s: {"repeat": {"until": "ENOSPC", **m, "steps": s}},
                      st.one_of(st.just({}), st.builds(lambda v: {"max": v}, value)), body)
    return st.one_of(counted, until)


steps = st.recursive(st.lists(leaf, min_size=1, max_size=3),
                     lambda inner: st.lists(st.one_of(leaf, _repeat(inner)), min_size=1,
                                            max_size=3),
                     max_leaves=12)
params = st.one_of(
    st.just(None),
    st.dictionaries(st.sampled_from(["n", "m"]), st.lists(value, min_size=1, max_size=2,
                                                          unique_by=str), max_size=2),
    st.integers(4, 14).map(lambda k: {f"p{i}": list(range(10)) for i in range(k)}),  # huge
)
limits = st.one_of(st.just(None), st.dictionaries(
    st.sampled_from(["combinations", "operations", "until", "steps"]), value, max_size=2))


@st.composite
def case(draw, index: int) -> dict:
    c = {"id": f"h.case-{index}", "title": "hostile", "source": {"kind": "extra", "ref": "t"},
         "layer": draw(st.sampled_from(["binding", "core"])),
         "buddy": {"size": draw(st.just("1G") | value),
                   "chunk_size": draw(st.sampled_from(["4K", "64K", "0", "3"]) | value)},
         "steps": draw(steps)}
    for key, strategy in (("params", params), ("limits", limits)):
        got = draw(strategy)
        if got is not None:
            c[key] = got
    return c


# Tame cases load: every name known, every value in range, counts from small to runaway.
tame_count = st.sampled_from(["1", "2", "10", "1000", "n", "n * 1000", "1000000000"])
tame_leaf = st.one_of(
    st.builds(lambda v: {"alloc": {"size": v}}, st.sampled_from(["4K", "16M", "2G"])),
    st.builds(lambda v: {"check": {"avail": v}}, st.sampled_from(["1G", "size", "0"])))
tame_steps = st.recursive(
    st.lists(tame_leaf, min_size=1, max_size=3),
    lambda inner: st.lists(tame_leaf | st.builds(
        lambda c, v, s: {"repeat": {"count": c, "as": v, "steps": s}}, tame_count,
        st.sampled_from(["i", "j", "k", "p", "q", "r"]), inner), min_size=1, max_size=3),
    max_leaves=8)


@st.composite
def tame_case(draw, index: int) -> dict:
    return {"id": f"h.tame-{index}", "title": "tame", "source": {"kind": "extra", "ref": "t"},
            "params": {"n": draw(st.sampled_from([[1], [1, 2], [3, 1000]]))},
            "buddy": {"size": "1G", "chunk_size": "4K"}, "steps": draw(tame_steps)}


def _dump(c: dict) -> str:
    return yaml.safe_dump(c, sort_keys=False)


tame_file = st.integers(0, 2).flatmap(lambda i: tame_case(i)).map(_dump)
spec_file = st.one_of(
    tame_file,
    st.integers(0, 2).flatmap(lambda i: case(i)).map(_dump),
    st.text(max_size=80),  # not a case at all
)

# -- option values --------------------------------------------------------------------

JUNK = st.one_of(
    st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e400", "1e-300", "0x10", "", " ",
                     "1_000", "NaN", "2**64", str(2**64), "-0", "0.0", "--", "-k", "@"]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.text(max_size=10),
)
# Valid values twice as often as junk, so that runs get past parsing.
SECONDS = st.one_of(JUNK, *[st.sampled_from(["0.05", "0.2", "1"])] * 2)
COUNT = st.one_of(JUNK, *[st.sampled_from(["1", "2", "3"])] * 2)
# Names that no backend family accepts, so no valid-looking name starts a kernel fetch.
BAD_NAME = st.text(max_size=10).filter(lambda s: name_problem(s) is not None)
BACKEND = st.one_of(
    st.just("reference"), st.just("reference"),
    st.sampled_from(["native", "native@/nonexistent/tree", "rust@/nonexistent", "native@",
                     *sorted(MINIATURES)[:2]]),
    BAD_NAME)
OUT_FILE = st.sampled_from(["{tmp}/out.json", "{tmp}/out.md", "{tmp}/out.html",
                            "{tmp}/missing/out.json", "{tmp}", "/dev/null/x", "", "{tmp}/specs"])
OUT_DIR = st.sampled_from(["{tmp}/emit", "{tmp}/a/b/c", "{tmp}/out.json", "/dev/null/x", "",
                           "/proc/x"])
SPECS = st.sampled_from(["{tmp}/specs", "{tmp}/specs", "{tmp}/specs/f0.yaml",
                         "{tmp}/nonexistent", "", "{tmp}/out.json"])
KEYWORD = st.one_of(st.sampled_from(["h.case", "h.case", "zzzz", "", "n="]),
                    st.text(max_size=5))

RUN_OPTS = {"--specs": SPECS, "--backend": BACKEND, "--kernel-src": JUNK, "--timeout": SECONDS,
            "--case-budget": SECONDS, "-k": KEYWORD, "--json": OUT_FILE, "-q": None,
            "--native-sanitize": None}
VERBS = {
    "run": RUN_OPTS,
    "diff": {**RUN_OPTS, "--markdown": OUT_FILE, "--html": OUT_FILE, "-q": "skip"},
    "check": {},
    "generate": {"--specs": SPECS, "--out": OUT_DIR, "--check": None},
    "fuzz": {"--backend": BACKEND, "--timeout": SECONDS, "--seed": JUNK, "--emit": OUT_DIR,
             "--case-budget": SECONDS},
    "bench": {"--seed": JUNK, "--pairs": COUNT, "--kernel-src": JUNK},
    "kernel": {},
}


# Sane values for every option: half the command lines use only these, so that many runs
# get past parsing and into the cases.
SANE = {"--specs": st.just("{tmp}/specs"), "--backend": st.just("reference"),
        "--kernel-src": st.just("/nonexistent/tree"), "--timeout": st.sampled_from(["1", "5"]),
        "--case-budget": st.sampled_from(["0.05", "0.5", "5"]),
        "-k": st.sampled_from(["h.", "tame", "zzzz"]), "--json": st.just("{tmp}/out.json"),
        "--markdown": st.just("{tmp}/out.md"), "--html": st.just("{tmp}/out.html"),
        "--out": st.just("{tmp}/gen"), "--emit": st.just("{tmp}/emit"),
        "--seed": st.sampled_from(["1", "42"]), "--pairs": st.just("1"),
        "--seconds": st.sampled_from(["0.2", "1"]), "--examples": st.sampled_from(["1", "3"])}


@st.composite
def argv(draw) -> list[str]:
    verb = draw(st.sampled_from([*VERBS, "nonsense"]))
    sane = draw(st.booleans())

    def value(opt: str, strategy):
        return draw(SANE[opt] if sane and opt in SANE else strategy)

    args = [verb]
    if verb == "check":
        args += draw(st.lists(SANE["--specs"] if sane else st.one_of(SPECS, JUNK), max_size=2))
    if verb == "kernel":
        args += draw(st.sampled_from([["list"], ["fetch"], []]))
        if args[-1:] == ["fetch"]:
            args.append(draw(JUNK.filter(lambda s: not re.fullmatch(r"\d+\.\d+", s))))
    if verb == "bench":  # a backend that cannot open: a valid one runs the benchmark
        args += ["--backend", draw(st.one_of(BAD_NAME, st.just("native@/nonexistent/tree")))]
    if verb == "fuzz":  # a budget, valid or not: without one it runs its 10 s default
        opt = draw(st.sampled_from(["--seconds", "--examples"]))
        args += [opt, value(opt, SECONDS if opt == "--seconds" else COUNT)]
    table = {k: v for k, v in VERBS.get(verb, RUN_OPTS).items() if v != "skip"}
    if verb in ("diff", "fuzz") and sane:
        table.pop("--backend")
    if table:
        for opt in draw(st.lists(st.sampled_from(sorted(table)), max_size=6, unique=sane)):
            args.append(opt)
            if table[opt] is not None:
                args.append(value(opt, table[opt]))
    if verb in ("diff", "fuzz") and (sane or draw(st.booleans())):  # two working backends
        args += ["--backend", "reference", "--backend", sorted(MINIATURES)[0]]
    if not sane and draw(st.integers(0, 9)) == 0:
        args.append(draw(st.sampled_from(["--frobnicate", "extra-arg", "-x"])))
    return args


def _env(tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST_") and k != "BUDDY_HARNESS_KERNEL_SRC"}
    return env | {"XDG_CACHE_HOME": f"{tmp}/cache", "PYTHONPATH": str(ROOT)}


def _write_specs(tmp: str, files: list[str]) -> None:
    specs = Path(tmp) / "specs"
    specs.mkdir()
    for i, text in enumerate(files):
        (specs / f"f{i}.yaml").write_text(text, encoding="utf-8")


LINE = re.compile(r"(\S+:\d+:\d+: .+|buddy-harness( [a-z]+)*: .+|\d+ error\(s\) in \d+ file\(s\)"
                  r"|fuzz: .+|\S+: stale|.+ is stale: run `buddy-harness generate`"
                  r"|quote check skipped: .+)")


@EXAMPLES
@given(argv(), st.one_of(st.lists(spec_file, max_size=3), st.lists(tame_file, max_size=3)))
def test_every_verb_ends_in_bounded_time_with_a_documented_code(args, files):
    with tempfile.TemporaryDirectory(prefix="buddy-harness-hostile-") as tmp:
        _write_specs(tmp, files)
        # NUL cannot be in a command line at all
        args = [a.replace("{tmp}", tmp).replace("\0", "") for a in args]
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "tests.hostile_main", *args], cwd=tmp,
                           env=_env(tmp), capture_output=True, text=True, timeout=BOUND * 2)
        took = time.monotonic() - t0
    out = r.stdout + r.stderr
    # --hypothesis-show-statistics: how far runs got
    event(f"{args[0]} exit {r.returncode}" + (" (cases ran)" if " passed, " in r.stdout else ""))
    assert "Traceback" not in out, (args, out[-3000:])
    assert r.returncode in (0, 1, 2, 5), (args, r.returncode, out[-2000:])
    assert took < BOUND, (args, took)
    if r.returncode == 2:  # every complaint is one line of a known form
        assert r.stderr.strip(), args
        for line in r.stderr.splitlines():
            assert LINE.fullmatch(line) or not line.strip(), (args, line)


PYTEST_OPTS = {"--backend": BACKEND, "--diff": st.one_of(
    JUNK, st.sampled_from(["reference," + sorted(MINIATURES)[0], "reference", "a,b,c",
                           "reference,native@/nonexistent"])),
               "--case-budget": SECONDS, "--kernel-version": JUNK.filter(
                   lambda s: not re.fullmatch(r"\d+\.\d+", s)), "-k": KEYWORD,
               "--specs": SPECS}


PYTEST_SANE = {"--backend": st.sampled_from(["reference", sorted(MINIATURES)[0]]),
               "--diff": st.just("reference," + sorted(MINIATURES)[0]),
               "--case-budget": SANE["--case-budget"], "-k": SANE["-k"]}
pytest_args = st.one_of(
    st.lists(st.sampled_from(sorted(PYTEST_OPTS)), max_size=4).flatmap(
        lambda opts: st.tuples(*[st.tuples(st.just(o), PYTEST_OPTS[o]) for o in opts])),
    st.sampled_from(["--backend", "--diff"]).flatmap(  # sane: get to the cases
        lambda first: st.lists(st.sampled_from([first, "--case-budget", "-k"]), max_size=3,
                               unique=True).flatmap(
            lambda opts: st.tuples(*[st.tuples(st.just(o), PYTEST_SANE[o]) for o in opts]))))


@settings(max_examples=MANY // 3 or 5, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pytest_args, st.one_of(st.lists(spec_file, max_size=2), st.lists(tame_file, max_size=2)))
def test_the_pytest_plugin_ends_in_bounded_time_with_pytests_codes(opts, files):
    with tempfile.TemporaryDirectory(prefix="buddy-harness-hostile-") as tmp:
        _write_specs(tmp, files)
        args = [x.replace("{tmp}", tmp).replace("\0", "") for pair in opts for x in pair]
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-p", "harness.pytest_plugin", "-p", "tests.miniatures",
                            "--specs", f"{tmp}/specs", *args], cwd=tmp, env=_env(tmp),
                           capture_output=True, text=True, timeout=BOUND * 2)
        took = time.monotonic() - t0
    out = r.stdout + r.stderr
    ran = re.search(r"\d+ (passed|failed|xfailed)", r.stdout)
    event(f"pytest exit {r.returncode}" + (" (cases ran)" if ran else ""))
    assert "Traceback" not in out, (args, out[-3000:])
    # pytest's own codes: 1 failures, 2 collection errors, 4 usage error, 5 nothing collected
    assert r.returncode in (0, 1, 2, 4, 5), (args, r.returncode, out[-2000:])
    assert took < BOUND, (args, took)
    if r.returncode == 4:
        assert len([ln for ln in r.stderr.splitlines() if ln.startswith("ERROR:")]) == 1, out
