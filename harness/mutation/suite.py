"""The mutants as pytest items, so pytest-xdist can spread them over machines.

One test per mutant: it passes when the mutant is killed (or is an accepted
survivor, which is reported as xfail with its reason), fails with the diff when it
survives, and is skipped when it does not compile or times out.  Load it as a
plugin and collect it as a module::

    pytest -p harness.mutation.suite --pyargs harness.mutation.suite \\
        --mutate native@7.2 [--mutate-sample N --mutate-seed S --mutate-fuzz N] \\
        -n 8 --tx 4*ssh=host-a//python=python3 --tx 4*ssh=host-b//python=python3

Every worker opens the tree, builds its shim objects and runs the baseline corpus
itself; nothing is shared but the mutant ids.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("mutate", "mutation testing of the allocator's C")
    g.addoption("--mutate", metavar="NAME", default=None, help="native@VERSION to mutate")
    g.addoption("--mutate-sample", type=int, default=None, metavar="N")
    g.addoption("--mutate-seed", type=int, default=1, metavar="S")
    g.addoption("--mutate-fuzz", type=int, default=1000, metavar="N")
    g.addoption("--mutate-timeout", type=float, default=3.0, metavar="SECONDS")
    g.addoption("--mutate-specs", default="specs", metavar="DIR")


def _tree(config: pytest.Config):
    from harness.trees import resolve_tree

    name = config.getoption("--mutate")
    if not name:
        raise pytest.UsageError("the mutation suite needs --mutate native@VERSION")
    return resolve_tree(name, log=lambda _m: None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Called twice, as a plugin and as the test module's own hook: parametrize once.
    if "mutant" not in metafunc.fixturenames or getattr(metafunc, "_mutants", False):
        return
    metafunc._mutants = True  # type: ignore[attr-defined]
    from harness.mutation.mutants import generate

    cfg = metafunc.config
    ms = generate(_tree(cfg).source.read_text(encoding="utf-8"))
    n = cfg.getoption("--mutate-sample")
    if n is not None and n < len(ms):
        ms = sorted(random.Random(cfg.getoption("--mutate-seed")).sample(ms, n),
                    key=lambda m: m.start)
    metafunc.parametrize("mutant", ms, ids=[m.id for m in ms])


@pytest.fixture(scope="session")
def bench(pytestconfig: pytest.Config):
    from harness.mutation.runner import Bench

    tree = _tree(pytestconfig)
    b = Bench(tree, tree.source.read_text(encoding="utf-8"),
              [Path(pytestconfig.getoption("--mutate-specs"))],
              pytestconfig.getoption("--mutate-timeout"))
    yield b
    b.close()


def test_mutant_is_killed(mutant, bench, pytestconfig: pytest.Config) -> None:
    from harness.mutation import survivors
    from harness.mutation.runner import KILLED, SURVIVED

    source = bench.tree.source.read_text(encoding="utf-8")
    accepted = survivors.load(bench.tree.version).get(mutant.id)
    v = bench.judge(source, mutant, pytestconfig.getoption("--mutate-fuzz"),
                    pytestconfig.getoption("--mutate-seed"))
    if v.status == KILLED:
        assert accepted is None, (f"{mutant.id} is killed ({v.by}) but listed in "
                                  f"{survivors.path_for(bench.tree.version)}: remove the entry")
        return
    if v.status == SURVIVED:
        if accepted is not None:
            pytest.xfail(f"{accepted.kind}: {accepted.reason}")
        rel = str(bench.tree.source.relative_to(bench.tree.root))
        pytest.fail(f"survived: {mutant.describe()}\n{mutant.diff(source, rel)}", pytrace=False)
    pytest.skip(f"{v.status}: {v.by}")
