// SPDX-License-Identifier: GPL-2.0
//! Synchronisation stand-in: the tree's own `lock` modules over pthread-backed
//! C primitives (`glue.c`), and an `Arc` over the standard library's.

use crate::prelude::*;
use crate::types::Opaque;

pub mod lock;
mod locked_by;

pub use lock::mutex::{new_mutex, Mutex, MutexGuard};
pub use lock::spinlock::{new_spinlock, SpinLock, SpinLockGuard};
pub use locked_by::LockedBy;

/// A lock class; lockdep does not exist here, so it carries no state.
#[repr(transparent)]
pub struct LockClassKey {
    inner: Opaque<bindings::lock_class_key>,
}

// SAFETY: the key is never read or written.
unsafe impl Send for LockClassKey {}
// SAFETY: as above.
unsafe impl Sync for LockClassKey {}

impl LockClassKey {
    /// A static lock class.
    ///
    /// # Safety
    ///
    /// As in the kernel: for statics only.
    pub const unsafe fn new_static() -> Self {
        LockClassKey { inner: Opaque::uninit() }
    }

    /// The key as the C side sees it.
    pub fn as_ptr(&self) -> *mut bindings::lock_class_key {
        self.inner.get()
    }
}

/// A static lock class key for the call site.
#[macro_export]
macro_rules! static_lock_class {
    () => {{
        static CLASS: $crate::sync::LockClassKey =
            // SAFETY: a static.
            unsafe { $crate::sync::LockClassKey::new_static() };
        $crate::prelude::Pin::static_ref(&CLASS)
    }};
}
pub use static_lock_class;

/// The name of a lock: given, or the call site.
#[doc(hidden)]
#[macro_export]
macro_rules! optional_name {
    () => {
        $crate::c_str!(::core::concat!(::core::file!(), ":", ::core::line!()))
    };
    ($name:literal) => {
        $crate::c_str!($name)
    };
}

/// A reference-counted pointer; always pinned, like the kernel's.
pub struct Arc<T: ?Sized>(std::sync::Arc<T>);

impl<T: ?Sized> Clone for Arc<T> {
    fn clone(&self) -> Self {
        Arc(std::sync::Arc::clone(&self.0))
    }
}

impl<T: ?Sized> core::ops::Deref for Arc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> crate::init::InPlaceInit<T> for Arc<T> {
    type PinnedSelf = Self;

    fn try_pin_init<E>(init: impl PinInit<T, E>, _flags: crate::alloc::Flags) -> Result<Self, E>
    where
        E: From<crate::alloc::AllocError>,
    {
        let mut slot = std::sync::Arc::<T>::new_uninit();
        let ptr = std::sync::Arc::get_mut(&mut slot).expect("a new Arc is unique").as_mut_ptr();
        // SAFETY: the slot is valid for writes and its contents never move: an Arc's
        // allocation stays where it is until the last reference is gone.
        unsafe { init.__pinned_init(ptr)? };
        // SAFETY: initialised just above.
        Ok(Arc(unsafe { slot.assume_init() }))
    }

    fn try_init<E>(init: impl pin_init::Init<T, E>, flags: crate::alloc::Flags) -> Result<Self, E>
    where
        E: From<crate::alloc::AllocError>,
    {
        Self::try_pin_init(init, flags)
    }
}
