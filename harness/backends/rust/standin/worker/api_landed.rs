// SPDX-License-Identifier: GPL-2.0
//! The binding's API as landed in Linux 7.2: u64 sizes, `Alignment` chunk sizes,
//! `Range(start..end)`, `avail()`.

use super::EINVAL;
pub(crate) use kernel::gpu::buddy::GpuBuddy;
use kernel::gpu::buddy::{AllocatedBlocks, GpuBuddyAllocMode, GpuBuddyParams};
use kernel::{prelude::*, ptr::Alignment};

fn alignment(v: u64) -> Option<Alignment> {
    usize::try_from(v).ok().and_then(Alignment::new_checked)
}

/// A chunk size no `Alignment` can hold cannot be expressed: EINVAL, as the model says.
pub(crate) fn new(base: u64, size: u64, chunk: u64) -> core::result::Result<GpuBuddy, i32> {
    let Some(chunk_size) = alignment(chunk) else { return Err(EINVAL) };
    GpuBuddy::new(GpuBuddyParams { base_offset: base, size, chunk_size }).map_err(|e| e.to_errno())
}

/// (avail, size, chunk_size, base_offset) as the binding reports them.
pub(crate) fn info(b: &GpuBuddy) -> (u64, u64, u64, u64) {
    (b.avail(), b.size(), b.chunk_size().as_usize() as u64, b.base_offset())
}

pub(crate) fn alloc(b: &GpuBuddy, mode: &str, start: u64, end: u64, size: u64, min: u64,
                    bits: u64) -> core::result::Result<Pin<KBox<AllocatedBlocks>>, i32> {
    let Some(min) = alignment(min) else { return Err(EINVAL) };
    let mode = match mode {
        "t" => GpuBuddyAllocMode::TopDown,
        "r" => GpuBuddyAllocMode::Range(start..end),
        _ => GpuBuddyAllocMode::Simple,
    };
    let f = super::flags_of(bits);
    KBox::pin_init(b.alloc_blocks(mode, size, min, f), GFP_KERNEL).map_err(|e| e.to_errno())
}

/// (offset, order, size) of each block, in list order.
pub(crate) fn blocks(a: &AllocatedBlocks) -> Vec<(u64, u32, u64)> {
    a.iter().map(|b| (b.offset(), b.order(), b.size())).collect()
}
