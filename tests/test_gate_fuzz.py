"""``run --fuzz``: seeded differential fuzzing as items of the gate, judged like cases."""

from __future__ import annotations

import pytest

from harness.backends.reference import ReferenceBackend
from harness.divergence import gate
from harness.trees import kernels
from tests import miniatures
from tests.test_cli import harness


@pytest.mark.treeless
def test_each_kernel_family_gets_its_items():
    assert gate.items_for("native@7.2") == ["fuzz.core", "fuzz.core.inject"]
    assert gate.items_for("rust@v12.1") == ["fuzz.binding"]
    assert gate.items_for("reference") == []


@pytest.mark.treeless
def test_an_agreeing_backend_passes_and_says_how_much_ran():
    out = gate.run_item("fuzz.core", "native@x", ReferenceBackend(), ReferenceBackend(),
                        seconds=1.0, seed=3)
    assert out.status == "pass" and "no divergence" in out.message and "seed 3" in out.message


@pytest.mark.treeless
def test_a_wrong_backend_fails_with_the_shrunk_case_to_emit():
    wrong = miniatures.backend("mini-bottom-up")
    out = gate.run_item("fuzz.core", "native@x", wrong, ReferenceBackend(), seconds=5.0, seed=1)
    assert out.status == "fail", out.message
    assert out.message.startswith("DIVERGENCE:") and "--seed 1" in out.message
    assert "id: regression." in out.message  # the YAML case, as fuzz --emit would write it


@pytest.mark.treeless
def test_injection_is_skipped_where_nothing_can_inject():
    out = gate.run_item("fuzz.core.inject", "native@x", ReferenceBackend(), ReferenceBackend(),
                        seconds=1.0, seed=1)
    assert out.status == "skip"


@pytest.mark.skipif(kernels.locate("7.2") is None, reason="needs `buddy-harness kernel fetch 7.2`")
def test_run_fuzz_adds_items_judged_by_the_expectations():
    cache = str(kernels.kernels_dir().parent.parent)
    r = harness("run", "--backend", "native@7.2", "--fuzz", "4", "-k", "fuzz.", cache=cache)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "seed 1 (--fuzz-seed N)" in r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.startswith("fuzz.")}
    assert rows["fuzz.core"].split()[3] == "pass"
    assert rows["fuzz.core.inject"].split()[3] == "xfail"  # the roll-back finding
