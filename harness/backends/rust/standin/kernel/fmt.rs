// SPDX-License-Identifier: GPL-2.0
//! Formatting stand-in: the core machinery.

pub use core::fmt::{Arguments, Debug, Display, Error, Formatter, Result, Write};
