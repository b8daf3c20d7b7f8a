// SPDX-License-Identifier: GPL-2.0
//! The kernel prelude, as far as this crate provides it.

pub use core::{
    mem::{align_of, align_of_val, size_of, size_of_val},
    pin::Pin,
};

pub use ::ffi::{
    c_char, c_int, c_long, c_longlong, c_schar, c_short, c_uchar, c_uint, c_ulong,
    c_ulonglong, c_ushort, c_void, CStr,
};

pub use pin_init::{init, pin_data, pin_init, pinned_drop, InPlaceWrite, Init, PinInit, Zeroable};

pub use super::{
    alloc::{flags::*, Box, KBox},
    build_assert::{build_assert, build_error, const_assert, static_assert},
    error::{code::*, Error, Result},
    init::InPlaceInit,
    pr_alert, pr_crit, pr_debug, pr_emerg, pr_err, pr_info, pr_notice, pr_warn,
    str::CStrExt as _,
    try_init, try_pin_init, ThisModule,
};
