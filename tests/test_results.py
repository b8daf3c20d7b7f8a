"""The results model: every verb's ``--json`` is one envelope, valid against the schema in the
package, written atomically; the HTML and Markdown reports are rendered from it, escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from harness import results
from harness.backends.native.testing import available_trees, why_unavailable
from harness.cli import main
from tests import miniatures
from tests.helpers import write_spec

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "<script>alert('x')</script> & \"q\" | pipe"

CASE = """
id: r.one
title: {title}
source: {{kind: extra, ref: test}}
cites: [gpu_buddy_alloc_blocks]
layer: core
buddy: {{size: 1G, chunk_size: 4K}}
steps:
  - alloc: {{as: a, size: 4K}}
  - free: a
"""


def _specs(tmp_path: Path, title: str = "one allocation and its free") -> Path:
    specs = tmp_path / "specs"
    write_spec(specs, "r.yaml", CASE.format(title=json.dumps(title)))
    write_spec(specs, "interactions.yaml", (ROOT / "specs" / "interactions.yaml").read_text())
    return specs


def _doc(path: Path, verb: str) -> dict:
    doc = json.loads(path.read_text())
    assert results.problems(doc) == []
    assert (doc["schema"], doc["version"], doc["verb"]) == (results.SCHEMA, results.VERSION, verb)
    return doc


@pytest.mark.treeless
def test_the_schema_is_a_json_schema_and_names_every_verb():
    jsonschema.Draft202012Validator.check_schema(results.schema())
    assert sorted(results.schema()["properties"]["verb"]["enum"]) == sorted(results.VERBS)


@pytest.mark.treeless
def test_a_document_outside_the_model_is_named_with_where():
    assert results.problems({"verb": "run"}) == [
        f"(top): '{k}' is a required property"
        for k in ("expectations", "results", "schema", "summary", "version")]
    bad = results.envelope("run", {"results": [{"case": "c", "params": "", "backend": "b",
                                                "outcome": "fine", "message": ""}],
                                   "summary": {}, "expectations": {}})
    assert any(p.startswith("results/0/outcome: 'fine' is not one of")
               for p in results.problems(bad))
    assert any("version" in p for p in results.problems(bad | {"version": 99}))


@pytest.mark.treeless
def test_the_envelope_keeps_the_verbs_keys_and_refuses_to_overwrite_its_own():
    assert results.envelope("diff", {"rows": []}) == {
        "schema": "buddy-harness/results", "version": results.VERSION, "verb": "diff", "rows": []}
    with pytest.raises(ValueError, match="may not set verb"):
        results.envelope("run", {"verb": "x"})
    with pytest.raises(ValueError, match="no results document"):
        results.envelope("fuzz", {})


@pytest.mark.treeless
def test_run_writes_the_envelope(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--backend", "reference", "--specs", str(_specs(tmp_path)),
                 "--json", str(out)]) == 0
    doc = _doc(out, "run")
    assert doc["summary"]["pass"] == 1 and doc["expectations"] == {"reference": "reference"}


@pytest.mark.treeless
def test_diff_writes_the_envelope(tmp_path, capsys):
    out = tmp_path / "d.json"
    with miniatures.registered():
        main(["diff", "--backend", "reference", "--backend", "mini-bottom-up", "--specs",
              str(_specs(tmp_path)), "--json", str(out)])
    assert [r["case"] for r in _doc(out, "diff")["rows"]] == ["r.one"]


@pytest.mark.treeless
def test_cover_pairs_writes_the_envelope_and_never_over_an_input(tmp_path, capsys):
    specs = _specs(tmp_path)
    out = tmp_path / "p.json"
    main(["cover", "--pairs", "--backend", "reference", "--specs", str(specs), "--json",
          str(out)])
    assert _doc(out, "cover-pairs")["backend"] == "reference"
    spec = specs / "r.yaml"
    before = spec.read_bytes()  # written with Path.write_text, it replaced the case it read
    assert main(["cover", "--pairs", "--backend", "reference", "--specs", str(specs), "--json",
                 str(spec)]) == 2
    assert "one of the run's inputs" in capsys.readouterr().err
    assert spec.read_bytes() == before


NATIVE = why_unavailable()
TREE = "native@7.2" if NATIVE is None and "native@7.2" in available_trees() else None
needs_tree = pytest.mark.skipif(TREE is None, reason=NATIVE or "native@7.2 is not cached")


@needs_tree
@pytest.mark.parametrize("run", [False, True], ids=["no-run", "run"])
def test_docs_writes_the_envelope(tmp_path, capsys, run):
    out = tmp_path / "docs.json"
    extra = ["--backend", "reference"] if run else ["--no-run"]
    main(["docs", "--specs", str(_specs(tmp_path)), "--json", str(out), *extra])
    doc = _doc(out, "docs")
    assert doc["ran"] is run and [c["id"] for c in doc["cases"]] == ["r.one"]
    item = next(i for f in doc["files"] for i in f["items"] if i["id"] == "gpu_buddy_alloc_blocks")
    assert item["state"] == "covered"


@pytest.mark.treeless
def test_docs_json_goes_with_the_report_not_the_drift(tmp_path, capsys):
    assert main(["docs", "--diff", "7.2", "6.12", "--json", str(tmp_path / "d.json")]) == 2
    assert "--json writes the documentation report" in capsys.readouterr().err


@needs_tree
def test_kunit_writes_the_envelope_and_never_over_an_input(tmp_path, capsys):
    out = tmp_path / "k.json"
    main(["kunit", "--backend", TREE, "--json", str(out)])
    doc = _doc(out, "kunit")
    assert doc["results"] and doc["expectations"] == {TREE: TREE}
    listed = ROOT / "specs" / "expectations" / f"{TREE}.yaml"
    before = listed.read_bytes()
    assert main(["kunit", "--backend", TREE, "--json", str(listed)]) == 2
    assert listed.read_bytes() == before


@needs_tree
def test_cover_writes_the_envelope(tmp_path, capsys):
    import shutil

    if shutil.which("gcovr") is None:
        pytest.skip("gcovr is not installed")
    out = tmp_path / "c.json"
    assert main(["cover", "--backend", TREE, "--specs", str(_specs(tmp_path)), "--json",
                 str(out)]) == 0
    assert _doc(out, "cover")["kernel"].startswith("7.2")


@needs_tree
def test_mutate_writes_the_envelope(tmp_path, capsys):
    out = tmp_path / "m.json"
    main(["mutate", "--backend", TREE, "--sample", "1", "--fuzz", "0", "--jobs", "1",
          "--json", str(out)])
    assert len(_doc(out, "mutate")["mutants"]) == 1


# -- reports rendered from the model, hostile text escaped ------------------------------

def _no_markup_from(text: str, page: str) -> None:
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(" in page


@pytest.mark.treeless
def test_the_diff_reports_escape_a_hostile_title(tmp_path, capsys):
    page, md = tmp_path / "d.html", tmp_path / "d.md"
    with miniatures.registered():
        main(["diff", "--backend", "reference", "--backend", "mini-bottom-up", "--specs",
              str(_specs(tmp_path, HOSTILE)), "--html", str(page), "--markdown", str(md)])
    _no_markup_from(HOSTILE, page.read_text())
    # In Markdown a title stays on its row: its | is escaped, not a new cell.
    assert "alert('x')</script> & \"q\" \\| pipe" in md.read_text()


@needs_tree
def test_the_docs_report_escapes_a_hostile_title(tmp_path, capsys):
    page = tmp_path / "docs.html"
    main(["docs", "--backend", "reference", "--specs", str(_specs(tmp_path, HOSTILE)),
          "--html", str(page)])
    html = page.read_text()
    _no_markup_from(HOSTILE, html)
    assert re.search(r"<small>&lt;script&gt;alert\(&#39;x&#39;\)&lt;/script&gt; &amp; "
                     r"&#34;q&#34; \| pipe</small>", html)


@pytest.mark.treeless
def test_the_mutation_report_escapes_what_a_mutant_carries(tmp_path):
    from harness.mutation.mutants import Mutant
    from harness.mutation.report import Report
    from harness.mutation.runner import SURVIVED, Verdict

    report = Report("native@7.2", "drivers/gpu/buddy.c", 1, None, None, 0, 1.0)
    m = Mutant("buddy.c:f:1", "f", "ror", 3, 0, 1, "<", "<=")
    report.rows = [(m, Verdict(m.id, SURVIVED, HOSTILE), f"-{HOSTILE}\n")]
    report.write_html(tmp_path / "m.html")
    html = (tmp_path / "m.html").read_text()
    _no_markup_from(HOSTILE, html)
    assert html.count("&lt;script&gt;") == 2  # killed-by text and diff alike
