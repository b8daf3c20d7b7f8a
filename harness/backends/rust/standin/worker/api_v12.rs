// SPDX-License-Identifier: GPL-2.0
//! The binding's API as posted in v12.1: `usize` sizes and chunk size,
//! `physical_memory_size`, `free_memory()`, `Range { start, end }`.

use super::EINVAL;
pub(crate) use kernel::gpu::buddy::GpuBuddy;
use kernel::gpu::buddy::{AllocatedBlocks, GpuBuddyAllocMode, GpuBuddyParams};
use kernel::{prelude::*, ptr::Alignment};

fn usize_of(v: u64) -> core::result::Result<usize, i32> {
    usize::try_from(v).map_err(|_| EINVAL)
}

/// Any chunk size is expressible here: the C decides.
pub(crate) fn new(base: u64, size: u64, chunk: u64) -> core::result::Result<GpuBuddy, i32> {
    let params = GpuBuddyParams { base_offset: base, physical_memory_size: size,
                                  chunk_size: usize_of(chunk)? };
    GpuBuddy::new(params).map_err(|e| e.to_errno())
}

pub(crate) fn info(b: &GpuBuddy) -> (u64, u64, u64, u64) {
    (b.free_memory(), b.size(), b.chunk_size() as u64, b.base_offset())
}

pub(crate) fn alloc(b: &GpuBuddy, mode: &str, start: u64, end: u64, size: u64, min: u64,
                    bits: u64) -> core::result::Result<Pin<KBox<AllocatedBlocks>>, i32> {
    let Some(min) = Alignment::new_checked(usize_of(min)?) else { return Err(EINVAL) };
    let mode = match mode {
        "t" => GpuBuddyAllocMode::TopDown,
        "r" => GpuBuddyAllocMode::Range { start, end },
        _ => GpuBuddyAllocMode::Simple,
    };
    let f = super::flags_of(bits);
    KBox::pin_init(b.alloc_blocks(mode, usize_of(size)?, min, f), GFP_KERNEL)
        .map_err(|e| e.to_errno())
}

pub(crate) fn blocks(a: &AllocatedBlocks) -> Vec<(u64, u32, u64)> {
    a.iter().map(|b| (b.offset(), b.order(), b.size() as u64)).collect()
}
