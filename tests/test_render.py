"""The renderer: deterministic modules, staleness detection, and that they run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.render import SUITES_MODULE, module_name, render, stale, write
from tests.helpers import write_spec
from tests.test_cli import GOOD, ROOT, WRONG, harness


def test_render_is_byte_stable_and_readable(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "review/good.yaml", GOOD)
    write_spec(specs, "extra/wrong.yaml", WRONG)
    out = tmp_path / "generated"
    first = render(specs, out, tmp_path)
    again = render(specs, out, tmp_path)
    assert first.files == again.files and not first.errors
    text = first.files[out / "test_review__good.py"]
    assert "def test_c_good(request, harness_backend, params):" in text
    assert "    run_spec_case(request.config, SPEC, 'c.good', params, harness_backend)" in text
    assert "pytest.param('chunk=4K', id='chunk=4K')" in text
    assert "    - alloc:" in text  # the steps are visible in the docstring
    assert "@pytest.mark.extra" in text
    compile(text, "x.py", "exec")


def test_stale_detection(tmp_path):
    specs, out = tmp_path / "specs", tmp_path / "generated"
    write_spec(specs, "good.yaml", GOOD)
    rendered = render(specs, out, tmp_path)
    assert stale(rendered, out) == [out / "test_good.py", out / SUITES_MODULE]
    write(rendered, out)
    assert stale(render(specs, out, tmp_path), out) == []
    write_spec(specs, "good.yaml", GOOD.replace("16M", "32M"))
    assert stale(render(specs, out, tmp_path), out) == [out / "test_good.py"]
    (specs / "good.yaml").unlink()
    assert stale(render(specs, out, tmp_path), out) == [out / "test_good.py"]


def test_module_name():
    assert module_name(Path("s/kernel-doc/flags.v2.yaml"), Path("s")) == \
        "test_kernel_doc__flags_v2.py"


def test_generated_modules_run_under_pytest(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "good.yaml", GOOD)
    write_spec(specs, "wrong.yaml", WRONG)
    write_spec(specs, "expectations/reference.yaml", "c.wrong: lands at the top\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["harness.pytest_plugin"]\n')
    r = harness("generate", "--specs", "specs", "--out", "generated", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert harness("generate", "--specs", "specs", "--out", "generated", "--check",
                   cwd=tmp_path).returncode == 0
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                        "generated"], cwd=tmp_path, capture_output=True, text=True)
    # the doc examples' module skips, saying why, when no rust@ backend is given
    assert "2 passed, 1 skipped, 1 xfailed" in p.stdout, p.stdout + p.stderr
    assert "the doc examples of buddy.rs run on rust@ backends" in p.stdout


def test_pytest_specs_option_collects_yaml(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "good.yaml", GOOD)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--specs", str(specs), "-k", "c.good", str(ROOT / "generated")],
                       cwd=ROOT, capture_output=True, text=True)
    assert "2 passed" in p.stdout, p.stdout + p.stderr


def test_repo_generated_is_up_to_date():
    r = harness("generate", "--check")
    assert r.returncode == 0, r.stdout + r.stderr
