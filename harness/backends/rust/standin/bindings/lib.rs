// SPDX-License-Identifier: GPL-2.0
//! The `bindings` crate: bindgen's output for the tree's own header, made at build time.

#![no_std]
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, improper_ctypes)]
#![allow(clippy::all, missing_docs, unsafe_op_in_unsafe_fn, dead_code)]

include!("generated_bindings.rs");
