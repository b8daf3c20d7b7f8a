"""pytest wiring: backend options, the ``harness_backend`` fixture, running spec cases.

Generated modules call :func:`run_spec_case`; ``--specs DIR`` collects YAML
files directly instead of the generated modules.  Either way the case goes
through the engine, and the backend's expectations file turns listed cases
into strict expected failures (a listed case that passes fails the run).

What a run holds (its opened backends and their judges, the spec files it read) is on its
config's stash, so two runs in one process share nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import baseline, expectations, fileio, options, suites
from harness.backends.base import BackendUnavailable, CoreBackend
from harness.backends.names import BackendRef
from harness.backends.registry import resolve
from harness.divergence import matrix
from harness.engine.budget import DEFAULT_CASE_BUDGET, set_case_budget
from harness.engine.trace import Outcome
from harness.judge import Judge
from harness.kunit import settings as kunit_settings
from harness.spec.loader import load_file
from harness.spec.model import SOURCE_KINDS, Case
from harness.spec.position import SpecError

DEFAULT_SPECS = "specs"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("buddy-harness")
    g.addoption("--backend", action="append", default=[], metavar="NAME",
                help="backend to run specs on (repeatable): reference, native, "
                     "native@VERSION|PATH|NAME, rust, rust@VERSION|PATH|NAME; default "
                     "reference")
    g.addoption("--kernel-src", metavar="PATH", default=None,
                help="kernel tree for the plain 'native' backend")
    g.addoption("--kernel-version", metavar="VERSION", default=None,
                help="shorthand for --backend native@VERSION")
    g.addoption("--native-sanitize", action="store_true",
                help="build the native backend with ASan + UBSan")
    g.addoption("--specs", action="append", default=[], metavar="DIR",
                help="run the YAML cases under DIR instead of the generated modules")
    g.addoption("--diff", metavar="A,B", default=None,
                help="run each case on two backends and fail on the first differing step")
    g.addoption("--case-budget", metavar="SECONDS", default=None,
                help="wall-clock limit per case, past which it is a crash: timeout "
                     f"(default {DEFAULT_CASE_BUDGET:g})")
    g.addoption("--kunit-seed", metavar="SEED", default=None,
                help="the random seed of the trees' KUnit suites (default fixed: "
                     "0x5eed1e55)")
    g.addoption("--kunit-skip-slow", action="store_true",
                help="report the KUnit suites' KUNIT_CASE_SLOW cases skipped, unrun")
    g.addoption("--expect-as", metavar="NAME", default=None,
                help="judge every backend by specs/expectations/NAME.yaml, or by none "
                     "(default: a kernel tree's own version)")


def _check_options(config: pytest.Config) -> None:
    """The CLI's checks on this plugin's options: one line (pytest's usage error, exit 4)."""
    problems = [options.problem(options.backend, "--backend", name)
                for name in config.getoption("backend")]
    if config.getoption("kernel_version") is not None:
        problems.append(options.problem(options.kernel_version, "--kernel-version",
                                        config.getoption("kernel_version")))
    budget = config.getoption("case_budget")
    if budget is not None:
        problems.append(options.problem(options.seconds, "--case-budget", budget))
    diff = config.getoption("diff")
    if diff is not None:
        a, comma, b = diff.partition(",")
        if not comma or "," in b:
            problems.append(f"--diff: '{diff}' is not two backend names A,B")
        else:
            problems += [options.problem(options.backend, "--diff", n) for n in (a, b)]
        if config.getoption("backend") or config.getoption("kernel_version"):
            problems.append("--diff A,B names both backends; drop --backend and "
                            "--kernel-version")
    seed = config.getoption("kunit_seed")
    if seed is not None:
        problems.append(options.problem(kunit_settings.seed_value, "--kunit-seed", seed))
    for problem in problems:
        if problem:
            raise pytest.UsageError(options.printable(problem))
    kunit_settings.configure(None if seed is None else kunit_settings.seed_value(seed),
                             config.getoption("kunit_skip_slow"))
    set_case_budget(options.seconds(budget) if budget is not None else DEFAULT_CASE_BUDGET)


@pytest.hookimpl(trylast=True)  # after plugins that add backend names (tests/miniatures.py)
def pytest_configure(config: pytest.Config) -> None:
    _check_options(config)
    config.addinivalue_line("markers", "spec_case(id): a generated spec case")
    config.addinivalue_line("markers", "suite: an item of a backend's own suites")
    for kind in suites.KINDS.values():
        config.addinivalue_line("markers", f"{kind.name}: items of the {kind.label} suite")
    for kind in SOURCE_KINDS:
        config.addinivalue_line("markers", f"{kind.replace('-', '_')}: cases from {kind} sources")
    for d in config.getoption("specs"):
        if not Path(d).is_dir():
            problem = fileio.stat_problem(d)  # a symlink loop is named, not "no such"
            why = "no such directory" if problem in (None, fileio.MISSING) else problem
            raise pytest.UsageError(options.printable(f"--specs {d}: {why}"))
        config.args.append(str(Path(d)))


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Which expectation file judges each backend, when it is not the backend's own name."""
    diff = config.getoption("diff")
    names = diff.split(",") if diff else backend_names(config)
    lines = []
    for name in dict.fromkeys(names):
        used = baseline.name_for(name, config.getoption("kernel_src"),
                                 config.getoption("expect_as"))
        if used != name:
            by = f"the {used} expectations" if used else "no expectation file"
            lines.append(f"buddy-harness: {name} is judged by {by}")
    return lines


def backend_names(config: pytest.Config) -> list[str]:
    names = list(config.getoption("backend"))
    if config.getoption("kernel_version"):
        names.append(f"native@{config.getoption('kernel_version')}")
    return names or ["reference"]


def _suite_items(config: pytest.Config, name: str) -> list[tuple[str, str]]:
    """(kind, item id) of every suite of a backend's tree, read without building anything."""
    kinds = suites.kinds_for(BackendRef(name).family)
    if not kinds:
        return []
    from harness.trees import resolve_tree

    try:
        tree = resolve_tree(name, config.getoption("kernel_src"), log=lambda m: None)
    except BackendUnavailable:
        return [(kinds[0].name, "(unavailable)")]  # the test itself reports why
    return [(k.name, i) for k in kinds for i in k.collect(tree)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "suite_item" in metafunc.fixturenames:
        params = [pytest.param((n, i), id=f"{n}-{i}", marks=getattr(pytest.mark, kind))
                  for n in backend_names(metafunc.config)
                  for kind, i in _suite_items(metafunc.config, n)] or [pytest.param(
                      None, id="no-suite", marks=pytest.mark.skip(
                          reason="no backend given has suites of its own (the doc examples "
                                 "of buddy.rs run on rust@ backends: --backend rust@7.2)"))]
        metafunc.parametrize("suite_item", params)
    if "harness_backend" in metafunc.fixturenames:
        diff = metafunc.config.getoption("diff")
        names = [diff] if diff else backend_names(metafunc.config)
        metafunc.parametrize("harness_backend", names, indirect=True, ids=names)


@dataclass
class DiffPair:
    a: CoreBackend
    b: CoreBackend


class _Backends:
    """Backends opened once per pytest run (per xdist worker), and their judges."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.open: dict[str, CoreBackend | BackendUnavailable] = {}
        # (expectation roots, id of an opened backend) -> its judge; the backend lives as
        # long as this table, so its id names no other.
        self.judges: dict[tuple[tuple[str, ...], int], Judge] = {}

    def get(self, name: str) -> CoreBackend:
        if name not in self.open:
            try:
                self.open[name] = resolve(
                    name, kernel_src=self.config.getoption("kernel_src"),
                    sanitize=self.config.getoption("native_sanitize"))
            except BackendUnavailable as e:
                self.open[name] = e
        got = self.open[name]
        if isinstance(got, BackendUnavailable):
            pytest.fail(f"backend {name}: {got}", pytrace=False)
        return got

    def judge_of(self, backend: CoreBackend, exp_roots: tuple[str, ...]) -> Judge:
        """The judge of an opened backend, chosen as every verb chooses it (harness.judge)."""
        key = (exp_roots, id(backend))
        if key not in self.judges:
            self.judges[key] = Judge.of(backend, [Path(r) for r in exp_roots],
                                        self.config.getoption("expect_as"))
        return self.judges[key]

    def close(self) -> None:
        for b in self.open.values():
            if not isinstance(b, BackendUnavailable):
                b.close()


@pytest.fixture(scope="session")
def _harness_backends(request: pytest.FixtureRequest) -> _Backends:
    return _session_backends(request.config)


@pytest.fixture
def harness_backend(request: pytest.FixtureRequest, _harness_backends: _Backends):
    name: str = request.param
    if request.config.getoption("diff"):
        a, _, b = name.partition(",")
        return DiffPair(_harness_backends.get(a), _harness_backends.get(b))
    return _harness_backends.get(name)


_CASES = pytest.StashKey[dict[str, dict[str, Case]]]()  # a spec file's cases, read once a run


def _cases(config: pytest.Config, path: str) -> dict[str, Case]:
    """The cases of the spec file ``path`` by id, read once per run (a SpecError is not kept:
    each item of the file says it)."""
    read = config.stash.setdefault(_CASES, {})
    if path not in read:
        read[path] = {c.id: c for c in load_file(path)}
    return read[path]


def run_spec_case(config: pytest.Config, spec: str, case_id: str, params: str, backend, *,
                  specs_root: str | None = None) -> None:
    """Run one spec case of the run ``config`` through the engine and turn its outcome into
    a pytest verdict."""
    path = Path(spec)
    if not path.is_absolute():
        path = config.rootpath / path
    try:
        case = _cases(config, str(path))[case_id]
        exp_roots = (specs_root or str(config.rootpath / DEFAULT_SPECS),)
    except SpecError as e:
        pytest.fail(str(e), pytrace=False)
    except KeyError:
        pytest.fail(f"{spec} has no case '{case_id}': run `buddy-harness generate`",
                    pytrace=False)
    ps = next((p for p in case.combinations() if p.id == params), None)
    if ps is None:
        pytest.fail(f"{case_id} has no params '{params}': run `buddy-harness generate`",
                    pytrace=False)
    backends = _session_backends(config)
    if isinstance(backend, DiffPair):
        return _run_diff(case, ps, backend, backends, exp_roots)
    _judge(backends.judge_of(backend, exp_roots).case(case, ps, backend))


def run_suite_item(backends: _Backends, backend_name: str, item_id: str) -> None:
    """One item of a backend's suites (a doc example, a KUnit test...), judged like a case."""
    backend = backends.get(backend_name)
    out = next((o for s in backend.suites() for o in s.outcomes() if o.case_id == item_id),
               None)
    if out is None:
        pytest.fail(f"{backend_name} has no item {item_id}", pytrace=False)
    exp_roots = (str(backends.config.rootpath / DEFAULT_SPECS),)
    _judge(backends.judge_of(backend, exp_roots).verdict(out))


def _judge(verdict: Outcome) -> None:
    """The verdict as pytest's: skip, strict xfail, or a failure that says why."""
    status, message = verdict.status, verdict.message
    if status == "skip":
        pytest.skip(message)
    if status == "xfail":
        pytest.xfail(message)
    if status == "xpass":
        pytest.fail(f"XPASS(strict): {message}", pytrace=False)
    if status != "pass":
        pytest.fail(f"{status}: {message}", pytrace=False)


def _run_diff(case: Case, ps, pair: DiffPair, backends: _Backends,
              exp_roots: tuple[str, ...]) -> None:
    """As `buddy-harness diff` judges a row (the same cells, from harness.divergence.matrix):
    a backend that cannot run the case skips it, and a difference both expectation files
    account for is an expected failure."""
    a, b = pair.a.name, pair.b.name
    opened = {a: pair.a, (b if b != a else f"{b} (second)"): pair.b}
    row = matrix.build_row(case, ps, opened, {
        n: dataclasses.replace(backends.judge_of(o, exp_roots), backend=n)
        for n, o in opened.items()})
    for cell in row.cells.values():
        if cell.status == "skip":
            pytest.skip(cell.message)
    if not row.differences:
        return
    (diff,) = row.differences
    if not row.unexpected:
        pytest.xfail(f"{diff.describe()} (recorded: "
                     + "; ".join(f"{n}: {c.message}" for n, c in row.cells.items()
                                 if c.status == "xfail")
                     + ")")
    pytest.fail(diff.describe(), pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("specs"):
        return
    # --specs replaces the default corpus: drop the generated modules' items.
    kept = [i for i in items if not i.get_closest_marker("spec_case")]
    config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = kept


def pytest_collect_file(parent: pytest.Collector, file_path: Path):
    roots = [Path(d).resolve() for d in parent.config.getoption("specs")]
    if file_path.suffix not in (".yaml", ".yml") or not roots:
        return None
    resolved = file_path.resolve()
    for root in roots:
        if root in resolved.parents and expectations.EXPECTATIONS_DIR not in \
                resolved.relative_to(root).parts[:-1]:
            return SpecFile.from_parent(parent, path=file_path, specs_root=str(root))
    return None


class SpecFile(pytest.File):
    def __init__(self, *, specs_root: str, **kw) -> None:
        super().__init__(**kw)
        self.specs_root = specs_root

    def collect(self):
        try:
            cases = _cases(self.config, str(self.path))
        except SpecError as e:
            raise self.CollectError(str(e)) from None
        diff = self.config.getoption("diff")
        names = [diff] if diff else backend_names(self.config)
        for case in cases.values():
            for ps in case.combinations():
                for name in names:
                    pid = f"[{ps.id}-{name}]" if ps.id else f"[{name}]"
                    item = SpecItem.from_parent(self, name=case.id + pid, case=case,
                                                params=ps.id, backend=name)
                    item.add_marker(case.source.kind.replace("-", "_"))
                    yield item


class SpecItem(pytest.Item):
    def __init__(self, *, case: Case, params: str, backend: str, **kw) -> None:
        super().__init__(**kw)
        self.case, self.params, self.backend = case, params, backend

    def runtest(self) -> None:
        backends = _session_backends(self.config)
        if self.config.getoption("diff"):
            a, _, b = self.backend.partition(",")
            backend = DiffPair(backends.get(a), backends.get(b))
        else:
            backend = backends.get(self.backend)
        run_spec_case(self.config, str(self.path), self.case.id, self.params, backend,
                      specs_root=self.parent.specs_root)

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, self.case.pos.line - 1, self.name


_BACKENDS = pytest.StashKey["_Backends"]()  # the session's opened backends, on its config


def _session_backends(config: pytest.Config) -> _Backends:
    b = config.stash.get(_BACKENDS, None)
    if b is None:
        b = config.stash[_BACKENDS] = _Backends(config)
        config.add_cleanup(b.close)
    return b
