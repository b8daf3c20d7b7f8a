"""Each miniature (the reference with one deliberate bug) is flagged by the corpus, by
``diff`` and by ``fuzz``: a miniature nothing flags would name a missing case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import expectations
from harness.backends.reference import ReferenceBackend
from harness.cli import main
from harness.divergence import fuzz
from harness.runner import EXPECTED, run_one, select
from harness.spec.loader import load_paths
from tests import miniatures

SPECS = Path(__file__).resolve().parent.parent / "specs"
NAMES = sorted(miniatures.MINIATURES)


@pytest.fixture(scope="module")
def corpus():
    loaded = load_paths([SPECS])
    assert not loaded.errors
    return list(select(loaded.cases, None))


@pytest.mark.parametrize("name", NAMES)
def test_the_corpus_flags_the_miniature(name, corpus):
    # A miniature claims to be the reference, so the reference's expectations apply.
    exp = expectations.load([SPECS], "reference")
    backend = miniatures.backend(name)
    flagged = [f"{c.id}[{ps.id}]" for c, ps in corpus
               if run_one(c, ps, backend, exp).status not in EXPECTED]
    assert flagged, f"no case catches {name}: {miniatures.MINIATURES[name].__doc__}"


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_finds_the_miniature(name):
    finding, stats = fuzz.search(ReferenceBackend(), miniatures.backend(name),
                                 ("reference", name), seed=3, examples=1500)
    assert finding is not None, f"{stats.examples} examples found nothing"
    assert len(finding.program.ops) <= 6, finding.program.describe()


def test_diff_flags_every_miniature(tmp_path, capsys):
    out = tmp_path / "m.json"
    args = ["diff", "--backend", "reference"]
    for name in NAMES:
        args += ["--backend", name]
    with miniatures.registered():
        assert main([*args, "--json", str(out)]) == 1
    capsys.readouterr()
    rows = json.loads(out.read_text())["rows"]
    bad = {"fail", "xpass", "crash", "error"}
    for name in NAMES:
        hits = [r for r in rows if r["cells"][name]["status"] in bad
                and r["cells"]["reference"]["status"] not in bad
                and any(name in d["backends"] for d in r["differences"])]
        assert hits, f"diff did not flag {name}"
