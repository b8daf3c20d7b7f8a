"""Reading a kernel tree's Rust lint flags from its Makefiles (harness/backends/rust/makeflags.py),
on small Makefiles written the way the kernel's are."""

from __future__ import annotations

from pathlib import Path

from harness.backends.rust.makeflags import lint_flags, rustc_version_number

TOP = """\
# These flags apply to all Rust code in the tree.
export rust_common_flags := --edition=2021 \\
\t\t\t    -Zbinary_dep_depinfo=y \\
\t\t\t    -Wclippy::all \\
\t\t\t    -Aclippy::needless_lifetimes \\
\t\t\t    -Wrustdoc::unescaped_backticks

KBUILD_RUSTFLAGS := $(rust_common_flags) \\
\t\t    -Cpanic=abort -Wclippy::float_arithmetic
ifdef CONFIG_X
KBUILD_RUSTFLAGS += -Copt-level=2
endif

rust_common_flags_per_version := \\
    $(if $(call rustc-min-version,108600),,-Aclippy::precedence)

rust_common_flags += $(rust_common_flags_per_version)
KBUILD_RUSTFLAGS += $(rust_common_flags_per_version)

rustfmt:
\t$(Q)find . -name '*.rs' | xargs $(RUSTFMT) -Wnot-a-flag
"""
SUB = """\
$(obj)/kernel.o: private rustc_target_flags = --extern ffi -Dmissing_docs
$(obj)/kernel.o: private skip_flags = -Wclippy::float_arithmetic
rustdoc-kernel: private rustc_target_flags = --extern ffi -Wrustdoc::broken_intra_doc_links
"""


def _tree(tmp_path: Path, sub: bool = True) -> Path:
    (tmp_path / "rust").mkdir()
    (tmp_path / "Makefile").write_text(TOP)
    if sub:
        (tmp_path / "rust/Makefile").write_text(SUB)
    return tmp_path


def test_the_kernel_crate_s_lint_flags_in_the_build_s_order(tmp_path):
    f = lint_flags(_tree(tmp_path), rustc_version_number("rustc 1.95.0 (x 2026-04-14)"),
                   "clippy")
    assert f is not None and f.edition == "2021"
    # := took rust_common_flags before the later +=, so the per-version flag comes once,
    # from KBUILD_RUSTFLAGS's own +=; rust/Makefile's target flags added, its skip removed.
    assert f.lints == ("-Wclippy::all", "-Aclippy::needless_lifetimes",
                       "-Wrustdoc::unescaped_backticks", "-Dmissing_docs")
    assert f.source == "Makefile and rust/Makefile"
    doc = lint_flags(tmp_path, 109500, "rustdoc")
    assert doc is not None and doc.lints[-2:] == ("-Wclippy::float_arithmetic",
                                                  "-Wrustdoc::broken_intra_doc_links")


def test_rustc_min_version_is_answered_for_the_machine_s_rustc(tmp_path):
    assert rustc_version_number("rustc 1.85.1 (4eb161250 2025-03-15)") == 108501
    old = lint_flags(_tree(tmp_path, sub=False), 108501, "clippy")
    assert old is not None and old.lints[-1] == "-Aclippy::precedence"
    assert old.lints.count("-Aclippy::precedence") == 1 and old.source == "Makefile"


def test_a_tree_without_a_makefile_has_no_flags(tmp_path):
    assert lint_flags(tmp_path, 109500, "clippy") is None
