"""The documentation report in a real browser: Debian's headless Chromium renders it.

Each test starts its own Chromium with a fresh profile, loads the page from a
file and reads back the DOM after the page's script ran, so what is asserted
is what a reviewer's browser shows.  Skipped, with the reason, without
Chromium (`apt-get install chromium`; `.ci/run` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.docs import coverage, report, tree
from harness.docs.outcomes import CaseOutcome
from harness.spec.loader import load_paths
from harness.trees import kernels
from tests.doc_tree import make_tree
from tests.helpers import write_spec

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(apt-get install -y chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rendered_dom(page: Path, profile: Path) -> str:
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                          page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def spans(dom: str) -> list[tuple[str, str]]:
    """(status, sentence) of every marked sentence in the rendered page."""
    return re.findall(r'<span class="s [a-z-]+" data-status="([a-z ]+)"[^>]*>([^<]*)</span>',
                      dom)


def test_marks_links_and_counts_as_rendered(tmp_path):
    docs = tree.load(str(make_tree(tmp_path / "t")))
    q = "{kind: kernel-doc, ref: 'drivers/gpu/buddy.c, gpu_buddy_init', quote: '%s'}"
    body = "layer: core\nbuddy: {size: 1M, chunk_size: 4K}\nsteps: [{alloc: {size: 4K}}]\n"
    write_spec(tmp_path / "s", "a.yaml", f"id: k.held\ntitle: h\nsource: "
               f"{q % 'Splits the space into roots.'}\n{body}")
    write_spec(tmp_path / "s", "b.yaml", f"id: k.contra\ntitle: c\nsource: "
               f"{q % 'Each root is a power of two.'}\n{body}")
    cases = load_paths([tmp_path / "s"]).cases
    cov = coverage.build(cases, docs, {"gpu_buddy_print": "prints to the log"})
    outcomes = {"k.held": CaseOutcome({"native@7.2": Counter({"pass": 2})}),
                "k.contra": CaseOutcome({"native@7.2": Counter({"xfail": 1})},
                                        {"native@7.2": ["roots of 3 * 2^n bytes exist"]})}
    page = tmp_path / "r.html"
    page.write_text(report.to_html(cov, outcomes, None))
    dom = rendered_dom(page, tmp_path / "profile")
    marked = dict((text, status) for status, text in spans(dom))
    assert marked["Splits the space into roots."] == "held"
    assert marked["Each root is a power of two."] == "contradicted"
    assert marked["Bytes managed, a multiple of @chunk_size."] == "not covered"
    # The page's own script counted what the browser rendered.
    counts = Counter(s for s, _ in spans(dom))
    for status in ("held", "contradicted", "not covered"):
        n = re.search(rf'id="n-{status.replace(" ", "-")}">(\d+)<', dom)
        assert n and int(n.group(1)) == counts[status], status
    # A contradicted sentence links its case; the case's row shows the evidence.
    assert re.search(r'data-status="contradicted"[^>]*>Each root is a power of two\.</span>'
                     r'<span class="cases"><a href="#case-k-contra">', dom)
    row = re.search(r'<tr id="case-k-contra".*?</tr>', dom, re.S)
    assert row and "roots of 3 * 2^n bytes exist" in row.group(0)
    assert 'data-item="gpu_buddy_print" data-state="waived"' in dom


@pytest.mark.skipif(kernels.locate(tree.REFERENCE) is None,
                    reason="Linux 7.2 is not cached (buddy-harness kernel fetch 7.2)")
def test_linux_7_2_report_every_item_covered_or_waived(tmp_path):
    page = tmp_path / "docs.html"
    env = {k: v for k, v in os.environ.items() if k != "BUDDY_HARNESS_KERNEL_SRC"}
    r = subprocess.run([sys.executable, "-m", "harness", "docs", "--backend", "reference",
                        "--html", str(page)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=dict(env, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    dom = rendered_dom(page, tmp_path / "profile")
    fig = re.search(r'id="figure" data-covered="(\d+)" data-counted="(\d+)"', dom)
    assert fig and fig.group(1) == fig.group(2)
    assert 'data-state="uncovered"' not in dom
    contradicted = [t for s, t in spans(dom) if s == "contradicted"]
    assert "Reset the clear state based on @is_clear value for each block in the freetree." \
        in contradicted
    for target in re.findall(r'<a href="#(case-[a-z0-9-]+)">', dom):
        assert f'id="{target}"' in dom
