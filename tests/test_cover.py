"""``buddy-harness cover``: exclusions and figures from gcovr's JSON, and real runs.

The report tests feed a small hand-made gcovr JSON, so they run everywhere;
the end-to-end test builds a coverage variant of a cached kernel tree and is
skipped without one (``tox -e native`` and ``tox -e cover`` have them).
"""

from __future__ import annotations

import json
import shutil

import pytest

from harness.backends.native.testing import available_trees, why_unavailable
from harness.cli import main
from harness.cover import report
from tests.helpers import write_spec

SOURCE = """\
static int pick(int a)
{
	BUG_ON(a < 0);
	if (a > 2)
		return 1;
	return 0;
}

void gpu_buddy_print(int a)
{
	printf("%d", a);
}
"""


def _line(n: int, fn: str, count: int, branches: tuple[int, ...] = ()) -> dict:
    return {"line_number": n, "function_name": fn, "count": count,
            "branches": [{"count": c} for c in branches]}


def _raw(path) -> dict:
    return {"files": [{"file": "drivers/gpu/buddy.c", "functions": [
        {"name": "pick", "lineno": 1}, {"name": "gpu_buddy_print", "lineno": 9}],
        "lines": [_line(1, "pick", 3), _line(3, "pick", 3, (3, 0)),
                  _line(4, "pick", 3, (3, 0)), _line(5, "pick", 3), _line(6, "pick", 0),
                  _line(9, "gpu_buddy_print", 0), _line(11, "gpu_buddy_print", 0)]}]}


@pytest.mark.treeless
def test_exclusions_and_figures(tmp_path):
    src = tmp_path / "buddy.c"
    src.write_text(SOURCE)
    trace, cov = report.filtered(_raw(src), src)
    (pick,) = cov.functions
    assert (pick.lines, pick.lines_run, pick.missing_lines) == (5, 4, [6])
    # BUG_ON's branches are left out, the if's are not.
    assert (pick.branches, pick.branches_taken) == (2, 1)
    assert (cov.excluded_lines, cov.excluded_branches) == (2, 2)
    assert cov.total.line_percent == 80.0 and cov.total.branch_percent == 50.0
    kept = trace["files"][0]["lines"]
    assert [ln["line_number"] for ln in kept] == [1, 3, 4, 5, 6]
    assert [f["name"] for f in trace["files"][0]["functions"]] == ["pick"]
    text = report.text_report(cov)
    assert "pick" in text and "80.0%" in text and "gpu_buddy_print" not in text.split("excl")[0]
    assert json.loads(json.dumps(cov.to_json()))["total"]["lines_run"] == 4


@pytest.mark.treeless
def test_a_defined_function_gcov_does_not_name_is_missing(tmp_path, capsys):
    import argparse

    from harness.commands.cover import _below_goal

    src = tmp_path / "buddy.c"
    src.write_text(SOURCE + "\nstatic unsigned int __merge(int a,\n\t\t\tint b)\n"
                   "{\n\treturn a;\n}\n")
    assert report.defined_functions(src.read_text()) == ["pick", "gpu_buddy_print", "__merge"]
    _, cov = report.filtered(_raw(src), src)
    assert cov.missing_functions == ["__merge"]
    assert "MISSING from gcov's data (not counted): __merge" in report.text_report(cov)
    ns = argparse.Namespace(fail_under_lines=None, fail_under_branches=None)
    assert _below_goal(cov, ns) == 1
    assert "does not count every function: __merge" in capsys.readouterr().out


@pytest.mark.treeless
def test_kernel_style_headers_name_their_function():
    text = ("static struct gpu_buddy_block *\n__get_buddy(struct gpu_buddy_block *block)\n{\n}\n"
            "static int __init gpu_buddy_module_init(void)\n{\n}\n"
            "static const int table[] =\n{\n};\n"
            "/* a comment */\nint gpu_buddy_init(struct gpu_buddy *mm, u64 size,\n"
            "\t\tu64 chunk)\n{\n}\n")
    assert report.defined_functions(text) == ["__get_buddy", "gpu_buddy_module_init",
                                              "gpu_buddy_init"]


@pytest.mark.treeless
def test_no_data_for_the_file_is_one_clear_error(tmp_path):
    src = tmp_path / "buddy.c"
    src.write_text(SOURCE)
    with pytest.raises(report.CoverError, match="no coverage recorded for buddy.c"):
        report.filtered({"files": []}, src)


@pytest.mark.treeless
def test_cover_refuses_the_reference(capsys):
    assert main(["cover", "--backend", "reference"]) == 2
    assert "give a native backend" in capsys.readouterr().err


SKIP = why_unavailable() or (None if shutil.which("gcovr") else "gcovr is not installed")
TREES = available_trees() if SKIP is None else {}

CASE = """
id: t.cover
title: one allocation and its free
source: {kind: extra, ref: test}
layer: core
buddy: {size: 1G, chunk_size: 4K}
steps:
  - alloc: {as: a, size: 4K}
  - free: a
"""


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
@pytest.mark.parametrize("name", sorted(TREES) or ["native"])
def test_cover_runs_the_cases_and_writes_json_and_html(tmp_path, capsys, name):
    write_spec(tmp_path / "specs", "c.yaml", CASE)
    out = tmp_path / "cov.json"
    html = tmp_path / "html" / "index.html"
    rc = main(["cover", "--backend", name, "--specs", str(tmp_path / "specs"),
               "--json", str(out), "--html", str(html), "--fuzz-examples", "20"])
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 0, text
    assert "TOTAL" in text and "excluded:" in text and "+ 20 fuzzed programs" in text
    assert "cover: fuzz: 20 examples" in captured.err
    data = json.loads(out.read_text())
    fns = {f["name"]: f for f in data["functions"]}
    init = next(f for n, f in fns.items() if n.endswith("buddy_init"))
    assert init["lines_run"] > 0 and data["fuzz_examples"] == 20
    assert not any("print" in n or "module" in n for n in fns)
    # Every function of the allocator is in the report, gcovr's internal (__*) ones too.
    defined = report.defined_functions(TREES[name].source.read_text())
    assert data["missing_functions"] == []
    assert {n for n in defined if not report.EXCLUDED_FUNCTIONS.match(n)} <= set(fns)
    assert "__alloc_range" in fns
    assert 0 < data["total"]["line_percent"] < 100
    assert html.is_file() and "buddy.c" in html.read_text()


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_cover_counts_only_what_ran(tmp_path, capsys):
    name = "native@7.2" if "native@7.2" in TREES else sorted(TREES)[0]
    write_spec(tmp_path / "specs", "c.yaml", CASE)
    out = tmp_path / "cov.json"
    assert main(["cover", "--backend", name, "--specs", str(tmp_path / "specs"),
                 "--json", str(out), "--fail-under-lines", "99"]) == 1
    assert "coverage below the goal: lines" in capsys.readouterr().out
    fns = {f["name"]: f for f in json.loads(out.read_text())["functions"]}
    trim = next(f for n, f in fns.items() if n.endswith("buddy_block_trim"))
    assert trim["lines_run"] == 0 and trim["missing_lines"]
