//! The Mach user ABI, shared by the kernel (`osfmk`) and user space (`libsys`) — the Rust form
//! of XNU's `osfmk/mach` headers. Every number is XNU's (shared/reference/xnu-abi.md §1, §3–§6).
//!
//! * [`traps`] — the Mach trap table, declared once for the kernel's dispatcher and the stubs;
//! * [`kern_return`] — `kern_return_t` values;
//! * [`message`] — `mach_msg` layouts, bits, options, trailers and return codes;
//! * [`mig`] — MIG's NDR record, error codes, reply-id rule and the message codec;
//! * [`defs`] — the MIG routines served, each declared once;
//! * [`port`] — port names, rights and type bits;
//! * [`info`] — `task_info` / `thread_info` / `host_info` flavors, thread-state flavors;
//! * [`exception`] — exception types and their default BSD signals;
//! * [`time`] — `mach_timebase_info`;
//! * [`vm`] — VM protections, inheritance, allocation flags and region flavors.
#![no_std]
#![forbid(unsafe_code)]

pub mod defs;
pub mod exception;
pub mod info;
pub mod kern_return;
pub mod message;
pub mod mig;
pub mod port;
pub mod time;
pub mod traps;
pub mod vm;

pub use kern_return::{CopyFault, KernReturn};
pub use port::MachPortName;
