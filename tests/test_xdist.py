"""``pytest -n auto`` gives the same outcome per test as a serial run."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.test_cli import ROOT

MODULES = ["generated/test_rustdoc__module_examples.py",
           "generated/test_kernel_doc__flags_contiguous.py"]
OUTCOME = re.compile(r"^(PASSED|FAILED|XFAIL|XPASS|SKIPPED|ERROR) (\S+)", re.M)


def outcomes(*extra: str) -> dict[str, str]:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                        *extra, *MODULES], cwd=ROOT, capture_output=True, text=True, timeout=300)
    found = {node: status for status, node in OUTCOME.findall(r.stdout)}
    assert found, r.stdout[-2000:]
    return found


def test_parallel_run_matches_serial_run():
    serial = outcomes()
    assert "XFAIL" in serial.values()  # the modules hold strict expected failures too
    assert outcomes("-n", "2") == serial
