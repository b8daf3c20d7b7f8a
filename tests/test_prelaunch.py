"""`run` on an edited tree starts gcc before the verb's modules load, and that guess changes
nothing: the same output and exit code, one compile of the allocator, and what no build
took (a usage error, other options) ended with the command, nothing left in the cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import prelaunch
from harness.backends.native import build, digests, early
from harness.cli import main
from tests.helpers import write_spec
from tests.scratch_tree import copy_tree
from tests.test_cli import GOOD, ROOT


@pytest.fixture
def tree(tmp_path, monkeypatch):
    copied = copy_tree(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("BUDDY_HARNESS_KERNEL_SRC", raising=False)
    monkeypatch.setattr(digests, "_stores", {})
    monkeypatch.setattr(early, "_done", set())
    return copied


def _edit(tree: Path, text: str = "/* an edit */\n") -> None:
    with (tree / "drivers/gpu/buddy.c").open("a") as f:
        f.write(text)


def _compiles(monkeypatch) -> list[subprocess.Popen]:
    seen: list[subprocess.Popen] = []
    real = subprocess.Popen

    def popen(cmd, *a, **kw):
        p = real(cmd, *a, **kw)
        if "-c" in cmd and cmd[cmd.index("-c") + 1].endswith("drivers/gpu/buddy.c"):
            seen.append(p)
        return p

    monkeypatch.setattr(build.subprocess, "Popen", popen)
    return seen


def _scratch(tmp_path: Path) -> list[str]:
    return [p.name for p in (tmp_path / "cache/buddy-harness/build").glob(".build-*")]


@pytest.mark.treeless
def test_backend_values_are_read_as_argparse_reads_them():
    argv = ["run", "--backend", "native@a", "-q", "--backend=native@b", "--", "--backend", "c"]
    assert prelaunch.option_values(argv, "--backend") == ["native@a", "native@b"]
    assert prelaunch.option_values(["run", "--backend"], "--backend") == []


@pytest.mark.treeless
def test_a_version_that_is_not_cached_is_never_fetched_from_here(tmp_path, monkeypatch):
    from harness.trees import kernels

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(kernels, "fetch", lambda *a, **k: pytest.fail("fetched"))
    assert not early.source_new(prelaunch._root("9.9", None))
    assert prelaunch._root(str(tmp_path / "absent"), None) is None
    prelaunch.start("run", ["run", "--backend", "native@9.9"])  # and nothing is said
    assert not early._pending


def test_an_unedited_tree_is_left_to_the_build(tree, monkeypatch):
    import harness.trees.tree

    monkeypatch.setattr(digests, "RACY", -10.0)  # the copy's files count as settled
    build.build(harness.trees.tree.inspect(tree))
    monkeypatch.setattr(digests, "_stores", {})  # a later process
    monkeypatch.setattr(early, "_done", set())
    monkeypatch.setattr(harness.trees.tree, "inspect", lambda _root: pytest.fail("read"))
    prelaunch.start("run", ["run", "--backend", f"native@{tree}"])
    assert not early._pending


def test_an_edited_tree_compiles_before_the_run_verb_loads(tree, tmp_path):
    _edit(tree)
    code = (
        "import sys\n"
        "order = []\n"
        "def hook(event, args):\n"
        "    if event == 'subprocess.Popen' and any(str(a).endswith('drivers/gpu/buddy.c')\n"
        "                                           for a in args[1]):\n"
        "        order.append(('gcc', 'harness.commands.run' in sys.modules))\n"
        "sys.addaudithook(hook)\n"
        "from harness.cli import main\n"
        f"rc = main(['run', '--backend', 'native@{tree}', '-q', '-k', 'zz-no-case'])\n"
        "print(rc, order)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ), timeout=300)
    # exit 5 (nothing selected), after one compile started before the verb's module loaded
    assert r.stdout.split("\n")[-2] == "5 [('gcc', False)]", r.stdout + r.stderr
    assert "built the gpu_buddy allocator" in r.stderr  # the early compile became the build


def _run(tree: Path, specs: Path, *more: str) -> int:
    return main(["run", "--specs", str(specs), "--backend", f"native@{tree}", *more])


def test_the_guess_says_and_decides_nothing(tree, tmp_path, monkeypatch, capsys):
    specs = tmp_path / "specs"
    write_spec(specs, "good.yaml", GOOD)
    _run(tree, specs)  # what a process or a cache says once is said here
    capsys.readouterr()
    outs = []
    for guess in (True, False):
        _edit(tree, f"/* an edit, guess={guess} */\n")
        seen = _compiles(monkeypatch)
        with pytest.MonkeyPatch.context() as m:
            if not guess:
                m.setattr(prelaunch, "start", lambda verb, argv: None)
            rc = _run(tree, specs)
        out, err = capsys.readouterr()
        # Only the seconds may differ (the build's, the run's), of course.
        err = "\n".join(ln.split(" in ")[0] if ln.startswith("built") else ln
                        for ln in err.splitlines())
        out = re.sub(r" in [0-9.]+s(?= |$)", " in Ts", out, flags=re.M)
        outs.append((rc, out, err))
        assert len(seen) == 1 and seen[0].returncode == 0  # one compile, the one used
        assert _scratch(tmp_path) == []
    assert outs[0] == outs[1]
    assert outs[0][0] == 0 and "built the gpu_buddy allocator" in outs[0][2]


def test_a_usage_error_ends_the_compile_it_did_not_need(tree, tmp_path, monkeypatch, capsys):
    _edit(tree)
    seen = _compiles(monkeypatch)
    assert _run(tree, tmp_path, "--jobs", "0") == 2
    assert "--jobs" in capsys.readouterr().err
    assert len(seen) == 1 and seen[0].returncode is not None  # started, then ended
    assert _scratch(tmp_path) == [] and not early._pending


def test_a_failing_guess_is_not_seen(tree, tmp_path, monkeypatch, capsys):
    specs = tmp_path / "specs"
    write_spec(specs, "good.yaml", GOOD)

    def broken(*_a, **_k):
        raise RuntimeError("a bug in the guess")

    monkeypatch.setattr(build, "start_early", broken)
    _edit(tree)
    assert _run(tree, specs, "-q") == 0
    assert "a bug in the guess" not in capsys.readouterr().err
