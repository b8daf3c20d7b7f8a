// SPDX-License-Identifier: GPL-2.0
//! String stand-in: the kernel's `CStr` is the core one.

pub use core::ffi::CStr;

/// Conversions the kernel adds to `CStr`.
pub trait CStrExt {
    /// A `CStr` from a NUL-terminated pointer.
    ///
    /// # Safety
    ///
    /// `ptr` is valid and NUL-terminated for `'a`.
    unsafe fn from_char_ptr<'a>(ptr: *const crate::ffi::c_char) -> &'a Self;

    /// The string as a C pointer.
    fn as_char_ptr(&self) -> *const crate::ffi::c_char;
}

impl CStrExt for CStr {
    unsafe fn from_char_ptr<'a>(ptr: *const crate::ffi::c_char) -> &'a Self {
        // SAFETY: the caller's contract.
        unsafe { CStr::from_ptr(ptr.cast()) }
    }

    fn as_char_ptr(&self) -> *const crate::ffi::c_char {
        self.as_ptr().cast()
    }
}

/// A C string literal.
#[macro_export]
macro_rules! c_str {
    ($str:expr) => {{
        const S: &str = ::core::concat!($str, "\0");
        const C: &$crate::str::CStr = match $crate::str::CStr::from_bytes_with_nul(S.as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("string contains interior NUL"),
        };
        C
    }};
}
