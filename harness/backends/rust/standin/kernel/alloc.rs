// SPDX-License-Identifier: GPL-2.0
//! Allocation stand-in: the kernel's allocators become the C library's.

use core::mem::MaybeUninit;
use core::pin::Pin;
use pin_init::{Init, PinInit};

/// Allocation failure.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct AllocError;

/// Allocation flags (`GFP_*`); carried, never interpreted in user space.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Flags(u32);

/// Flag values as the kernel spells them.
pub mod flags {
    use super::Flags;
    /// Allocation that may sleep.
    pub const GFP_KERNEL: Flags = Flags(1);
    /// Allocation that may not sleep.
    pub const GFP_ATOMIC: Flags = Flags(2);
    /// Allocation that may not sleep or wait.
    pub const GFP_NOWAIT: Flags = Flags(4);
    /// Zeroed memory.
    pub const __GFP_ZERO: Flags = Flags(8);
}

/// Layout errors, as in the kernel's `alloc::layout`.
pub mod layout {
    /// A layout that cannot be represented.
    #[derive(Debug)]
    pub struct LayoutError;
}

/// A box from the kernel's heap; here the process heap.
pub type KBox<T> = std::boxed::Box<T>;
/// The kernel's box type, here a plain box.
pub type Box<T> = std::boxed::Box<T>;

impl<T> crate::init::InPlaceInit<T> for std::boxed::Box<T> {
    type PinnedSelf = Pin<Self>;

    fn try_pin_init<E>(init: impl PinInit<T, E>, _flags: Flags) -> Result<Pin<Self>, E>
    where
        E: From<AllocError>,
    {
        let mut slot: std::boxed::Box<MaybeUninit<T>> = std::boxed::Box::new_uninit();
        // SAFETY: the slot is valid for writes and is never moved after this point
        // (it is pinned once initialised); on error it is freed uninitialised.
        unsafe { init.__pinned_init(slot.as_mut_ptr())? };
        // SAFETY: initialised just above.
        Ok(std::boxed::Box::into_pin(unsafe { slot.assume_init() }))
    }

    fn try_init<E>(init: impl Init<T, E>, _flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>,
    {
        let mut slot: std::boxed::Box<MaybeUninit<T>> = std::boxed::Box::new_uninit();
        // SAFETY: as above.
        unsafe { init.__init(slot.as_mut_ptr())? };
        // SAFETY: initialised just above.
        Ok(unsafe { slot.assume_init() })
    }
}
