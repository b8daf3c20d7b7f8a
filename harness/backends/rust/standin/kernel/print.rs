// SPDX-License-Identifier: GPL-2.0
//! Printing stand-in: the kernel log becomes stderr, each line with its level.

#[doc(hidden)]
pub fn emit(level: u8, args: core::fmt::Arguments<'_>) {
    std::eprint!("<{level}>{args}");
}

/// Prints to stderr at log level 0.
#[macro_export]
macro_rules! pr_emerg {
    ($($arg:tt)*) => { $crate::print::emit(0, ::core::format_args!($($arg)*)) };
}

/// Prints to stderr at log level 1.
#[macro_export]
macro_rules! pr_alert {
    ($($arg:tt)*) => { $crate::print::emit(1, ::core::format_args!($($arg)*)) };
}

/// Prints to stderr at log level 2.
#[macro_export]
macro_rules! pr_crit {
    ($($arg:tt)*) => { $crate::print::emit(2, ::core::format_args!($($arg)*)) };
}

/// Prints to stderr at log level 3.
#[macro_export]
macro_rules! pr_err {
    ($($arg:tt)*) => { $crate::print::emit(3, ::core::format_args!($($arg)*)) };
}

/// Prints to stderr at log level 4.
#[macro_export]
macro_rules! pr_warn {
    ($($arg:tt)*) => { $crate::print::emit(4, ::core::format_args!($($arg)*)) };
}

/// Prints to stderr at log level 5.
#[macro_export]
macro_rules! pr_notice {
    ($($arg:tt)*) => { $crate::print::emit(5, ::core::format_args!($($arg)*)) };
}

/// Prints to stderr at log level 6.
#[macro_export]
macro_rules! pr_info {
    ($($arg:tt)*) => { $crate::print::emit(6, ::core::format_args!($($arg)*)) };
}

/// Prints to stderr at log level 7.
#[macro_export]
macro_rules! pr_debug {
    ($($arg:tt)*) => { $crate::print::emit(7, ::core::format_args!($($arg)*)) };
}
