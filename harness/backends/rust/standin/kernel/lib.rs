// SPDX-License-Identifier: GPL-2.0
//! The harness's stand-in for the kernel crate's root.
//!
//! The modules that need no running kernel are the tree's own files (linked
//! next to this one when the crate is built); this file and its sibling
//! stand-ins provide only what a kernel would: allocation, `Arc`, the lock
//! primitives' C side, printing, and the generated bindings.

#![no_std]
#![feature(arbitrary_self_types)]
#![allow(unexpected_cfgs, internal_features, stable_features)]

extern crate self as kernel;
extern crate std;

pub use bindings;
pub use ffi;

// Only part of each module is used here, so the unused rest is not warned about; `gpu`
// (the binding) keeps every lint, as the tree's build gives it (the lint items read them).
#[allow(dead_code, unused_imports)]
pub mod alloc;
#[allow(dead_code, unused_imports)]
pub mod build_assert;
#[allow(dead_code, unused_imports)]
pub mod error;
#[allow(dead_code, unused_imports)]
pub mod fmt;
pub mod gpu;
#[allow(dead_code, unused_imports)]
pub mod impl_flags;
#[allow(dead_code, unused_imports)]
pub mod init;
#[allow(dead_code, unused_imports)]
pub mod interop;
#[allow(dead_code, unused_imports)]
pub mod prelude;
#[allow(dead_code, unused_imports)]
pub mod print;
#[allow(dead_code, unused_imports)]
pub mod ptr;
#[allow(dead_code, unused_imports)]
pub mod sizes;
#[allow(dead_code, unused_imports)]
pub mod str;
#[allow(dead_code, unused_imports)]
pub mod sync;
#[allow(dead_code, unused_imports)]
pub mod types;

/// Stand-in for the kernel's `ThisModule`: nothing here is loaded as a module.
pub struct ThisModule;
