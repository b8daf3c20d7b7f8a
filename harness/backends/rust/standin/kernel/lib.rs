// SPDX-License-Identifier: GPL-2.0
//! The harness's stand-in for the kernel crate's root.
//!
//! The modules that need no running kernel are the tree's own files (linked
//! next to this one when the crate is built); this file and its sibling
//! stand-ins provide only what a kernel would: allocation, `Arc`, the lock
//! primitives' C side, printing, and the generated bindings.

#![no_std]
#![feature(arbitrary_self_types)]
#![allow(unexpected_cfgs, dead_code, unused_imports, internal_features, stable_features)]

extern crate self as kernel;
extern crate std;

pub use bindings;
pub use ffi;

pub mod alloc;

pub mod build_assert;
pub mod error;
pub mod fmt;
// The binding keeps the lints a kernel build gives it (the lint items read them); only
// the rest of the crate, partly used here, is spared them.
#[warn(dead_code, unused_imports)]
pub mod gpu;
pub mod impl_flags;
pub mod init;
pub mod interop;
pub mod prelude;
pub mod print;
pub mod ptr;
pub mod sizes;
pub mod str;
pub mod sync;
pub mod types;

/// Stand-in for the kernel's `ThisModule`: nothing here is loaded as a module.
pub struct ThisModule;
