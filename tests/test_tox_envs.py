"""Every test that needs a kernel tree runs in CI: tox's py env has none (it runs before the
envs that fetch them), so such a module must be named by an env that fetches trees."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# How a test module finds a kernel tree (the helpers of tests/ and harness's testing module).
NEEDS_TREE = re.compile(r"why_unavailable|available_trees|copy_tree|cached_tree|_native_name|"
                        r"kernels\.locate|native_tree|_private_cache")


def _modules_named_by_envs_with_trees() -> set[str]:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    named: set[str] = set()
    for section in tox.sections():
        if not section.startswith("testenv:") or section == "testenv:py":
            continue
        named |= set(re.findall(r"tests/(test_\w+\.py)", tox[section].get("commands", "")))
    return named


def test_every_module_that_needs_a_tree_is_run_by_an_env_that_has_one():
    needing = {p.name for p in (ROOT / "tests").glob("test_*.py")
               if p.name != Path(__file__).name
               and NEEDS_TREE.search(p.read_text(encoding="utf-8"))}
    assert needing, "the pattern no longer finds the tree-needing modules"
    missing = sorted(needing - _modules_named_by_envs_with_trees())
    assert missing == [], (
        f"{', '.join(missing)} need a kernel tree but no tox env that fetches one runs them "
        "(add them to tox.ini's native env, or another that fetches trees)")


def test_the_py_env_cannot_fetch_a_tree(monkeypatch):
    from harness.trees import kernels

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert f"{kernels.NO_FETCH} = 1" in tox["testenv:py"]["setenv"]
    monkeypatch.setenv(kernels.NO_FETCH, "1")
    try:
        kernels.fetch("7.2", log=lambda _m: None)
    except kernels.FetchError as e:
        assert kernels.NO_FETCH in str(e)
    else:
        raise AssertionError("fetch ran with fetching turned off")


def test_the_envs_with_trees_leave_out_what_py_runs_and_py_runs_every_test():
    """A treeless test runs once, in py (which runs every test module): the envs with trees
    pass ``-m "not treeless"`` to each pytest of theirs."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert "tests/" not in tox["testenv:py"]["commands"]  # every module: pyproject's testpaths
    for section in ("testenv:native", "testenv:rust", "testenv:sanitize"):
        for line in tox[section]["commands"].splitlines():
            if line.strip().startswith("pytest"):
                assert '-m "not treeless"' in line, f"{section}: {line.strip()}"


def test_a_treeless_test_that_skips_where_no_tree_is_fails(pytester, monkeypatch):
    from harness.trees import kernels

    pytester.makepyfile(test_t="""
        import pytest

        @pytest.mark.treeless
        def test_needs_one():
            pytest.skip("Linux 7.2 is not cached")

        def test_unmarked():
            pytest.skip("Linux 7.2 is not cached")
    """)
    monkeypatch.setenv(kernels.NO_FETCH, "1")
    r = pytester.runpytest("-p", "tests.conftest")
    r.assert_outcomes(failed=1, skipped=1)
    r.stdout.fnmatch_lines(["*marked treeless but skipped where no kernel tree is*"])
    monkeypatch.delenv(kernels.NO_FETCH)
    pytester.runpytest("-p", "tests.conftest").assert_outcomes(skipped=2)
