"""A small kernel tree written for the documentation tests: a header, a .c and a .rs file.

The prose is the tests' own; the layout and the comment formats are the kernel's.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.trees.kernels import LAYOUT

HEADER = """\
/* SPDX-License-Identifier: MIT */
#ifndef __GPU_BUDDY_H__
#define __GPU_BUDDY_H__

/**
 * GPU_BUDDY_TOPDOWN_ALLOCATION - Take the highest free addresses
 *
 * Blocks come from the top of the space first. Handy for keeping
 * low memory free.
 */
#define GPU_BUDDY_TOPDOWN_ALLOCATION BIT(1)

/**
 * struct gpu_buddy - The allocator
 *
 * Holds the free trees.
 *
 * @size: Bytes managed, a multiple of
 *        @chunk_size.
 * @chunk_size: Smallest block in bytes.
 */
struct gpu_buddy {
    u64 size;
    u64 chunk_size;
};

int gpu_buddy_block_trim(struct gpu_buddy *mm, u64 *start, u64 new_size,
             struct list_head *blocks);
#endif
"""

SOURCE = """\
// SPDX-License-Identifier: MIT
#include <linux/gpu_buddy.h>

/**
 * gpu_buddy_init - set an allocator up
 *
 * @mm: the allocator
 * @size: bytes to manage
 *
 * Splits the space into roots. Each root is a power of two.
 *
 * Returns:
 * 0 on success, error code on failure.
 */
int gpu_buddy_init(struct gpu_buddy *mm, u64 size)
{
    /* Round the size down to the chunk */
    return 0;
}

/**
 * gpu_buddy_print() - print the allocator
 * @mm: the allocator
 */
void gpu_buddy_print(struct gpu_buddy *mm)
{
}
"""

RUST = """\
// SPDX-License-Identifier: GPL-2.0

//! Bindings for the allocator.
//!
//! # Examples
//!
//! ```
//! # use kernel::gpu::buddy::GpuBuddy;
//! // Make one. It is empty.
//! let b = GpuBuddy::new(params)?;
//! ```

/// The allocator.
pub struct GpuBuddy {
    /// Bytes managed.
    pub size: u64,
    /// Not public, not listed.
    inner: u64,
}

impl GpuBuddy {
    /// Free bytes now.
    pub fn avail(&self) -> u64 {
        0
    }

    /// Not public either.
    fn private(&self) {}
}

/// How to allocate.
pub enum Mode {
    /// From the top.
    TopDown,
}
"""


def make_tree(root: Path, *, package: str = "7.2.99-1", header: str = HEADER,
              source: str = SOURCE, rust: str | None = RUST) -> Path:
    """Write the tree under ``root`` (with the cache's metadata) and return ``root``."""
    files = {"include/linux/gpu_buddy.h": header, "drivers/gpu/buddy.c": source,
             "tools/lib/rbtree.c": "", "Makefile": "VERSION = 7\nPATCHLEVEL = 2\n"}
    if rust is not None:
        files["rust/kernel/gpu/buddy.rs"] = rust
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / "tools/include").mkdir(parents=True, exist_ok=True)
    version = package.split("-")[0].rsplit(".", 1)[0]
    (root / "buddy-harness.json").write_text(json.dumps(
        {"version": version, "package": package, "layout": LAYOUT}))
    return root


def make_cache(cache: Path, version: str = "7.2", **kw) -> Path:
    """An XDG cache holding one fake kernel tree as ``version``; returns the tree."""
    return make_tree(cache / "buddy-harness" / "kernels" / version, **kw)
