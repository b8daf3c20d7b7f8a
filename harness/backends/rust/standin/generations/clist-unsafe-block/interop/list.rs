// SPDX-License-Identifier: GPL-2.0
//! `interop::list` as bindings written before Linux 7.2 call it.
//!
//! Those bindings (the v12.1 GPU buddy posting among them) were built on a series
//! whose `clist_create!` took its arguments inside an `unsafe { .. }` block:
//! `clist_create!(unsafe { head, RustType, c_type, field.path })`. Linux 7.2's
//! macro takes them bare and leaves the `unsafe` to the caller, so the tree's own
//! `list.rs` cannot build such a binding. This module is the harness's own
//! rendering of that older surface over the same C `list_head`: a sentinel head,
//! a typed view of the list, and an iterator over its entries.

use crate::{bindings, types::Opaque};
use core::marker::PhantomData;
use pin_init::{pin_data, pin_init, PinInit};

/// A C `list_head` used as a list's sentinel.
#[pin_data]
#[repr(transparent)]
pub struct CListHead {
    #[pin]
    inner: Opaque<bindings::list_head>,
}

impl CListHead {
    /// An empty list: the head points at itself.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `INIT_LIST_HEAD` initialises the head in place.
            inner <- Opaque::ffi_init(|slot| unsafe { bindings::INIT_LIST_HEAD(slot) }),
        })
    }

    /// The C pointer.
    pub fn as_raw(&self) -> *mut bindings::list_head {
        self.inner.get()
    }

    /// Whether any entry is on the list.
    pub fn is_linked(&self) -> bool {
        let raw = self.as_raw();
        // SAFETY: the head is initialised, so `next` is valid to read.
        unsafe { (*raw).next != raw }
    }
}

// SAFETY: the head is only touched by its owner, under the owner's lock.
unsafe impl Send for CListHead {}
// SAFETY: as above.
unsafe impl Sync for CListHead {}

/// A C list whose entries are `T`, linked through the `list_head` at `OFFSET` in each.
pub struct CList<'a, T, const OFFSET: usize> {
    head: *mut bindings::list_head,
    _entries: PhantomData<&'a T>,
}

impl<'a, T, const OFFSET: usize> CList<'a, T, OFFSET> {
    /// # Safety
    ///
    /// `head` is an initialised sentinel of a list of `T` linked at `OFFSET`, unchanged
    /// for `'a`.
    pub unsafe fn from_raw(head: *mut bindings::list_head) -> Self {
        CList { head, _entries: PhantomData }
    }

    /// The entries, first to last.
    pub fn iter(&self) -> CListIter<'a, T, OFFSET> {
        // SAFETY: per `from_raw`'s contract the head is valid.
        CListIter { head: self.head, at: unsafe { (*self.head).next }, _entries: PhantomData }
    }
}

/// Iterator over a [`CList`].
pub struct CListIter<'a, T, const OFFSET: usize> {
    head: *mut bindings::list_head,
    at: *mut bindings::list_head,
    _entries: PhantomData<&'a T>,
}

impl<'a, T: 'a, const OFFSET: usize> Iterator for CListIter<'a, T, OFFSET> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        if self.at == self.head {
            return None;
        }
        let link = self.at;
        // SAFETY: `link` is an entry's embedded `list_head`, OFFSET bytes into it, and the
        // list is not modified while iterated (the `from_raw` contract).
        unsafe {
            self.at = (*link).next;
            Some(&*link.cast::<u8>().sub(OFFSET).cast::<T>())
        }
    }
}

/// A typed view of a C list, in the older form: `clist_create!(unsafe { head, T, C, field })`.
#[macro_export]
macro_rules! clist_create {
    (unsafe { $head:expr, $rust_type:ty, $c_type:ty, $($field:tt).+ $(,)? }) => {{
        const OFFSET: usize = ::core::mem::offset_of!($c_type, $($field).+);
        // SAFETY: the caller's `unsafe` block vouches for `$head`, as the older API had it.
        unsafe { $crate::interop::list::CList::<$rust_type, OFFSET>::from_raw($head) }
    }};
}
pub use clist_create;
