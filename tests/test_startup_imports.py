"""What a run imports before its backends start building: not the modules only later phases
need (YAML, the documentation's parsers, the patch code, process pools, archives, ctypes),
so gcc starts sooner; each is still there when its phase comes."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.treeless

LATER = ("yaml", "jsonschema", "multiprocessing", "harness.docs.quotes", "harness.docs.tree",
         "harness.patching.apply", "harness.trees.patched", "tarfile", "ctypes", "uuid",
         "importlib.resources")


def _imported(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nprint(*sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_run_verb_and_the_native_build_import_none_of_the_later_phases():
    mods = _imported("from harness import cli\ncli.build_parser(['run'])\n"
                     "import harness.backends.native.build")
    assert "harness.commands.run" in mods and "harness.backends.native.build" in mods
    assert sorted(mods & set(LATER)) == []


def test_what_was_made_lazy_is_still_there_when_asked_for():
    mods = _imported("from harness.backends.native import InprocessBackend, open_inprocess\n"
                     "from harness.docs import flags\nflags.absent_by_backend([], {})\n"
                     "from harness import expectations\n"
                     "from harness.results import schema\nschema()")
    assert {"ctypes", "harness.backends.native.inprocess", "harness.docs.quotes",
            "importlib.resources"} <= mods

