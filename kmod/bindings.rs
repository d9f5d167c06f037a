// SPDX-License-Identifier: GPL-2.0
//! Generated declarations of the C API (see `Kbuild`, rule `daedalus_bindgen`).

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    improper_ctypes,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    missing_docs,
    unnecessary_transmutes,
    unused_imports
)]

// The kernel's bindgen parameters block these so that its own `ffi` crate provides them;
// an external module has no `ffi` crate, so they are spelled out here.
pub type __kernel_size_t = usize;
pub type __kernel_ssize_t = isize;
pub type __kernel_ptrdiff_t = isize;

include!("daedalus_bindings.rs");
