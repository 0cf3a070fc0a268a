//! The BSD user ABI, shared by the kernel (`bsd`) and user space (`libsys`) — the Rust form of
//! XNU's `bsd/sys` headers. Every number here is XNU's (shared/reference/xnu-abi.md §1–§2, §9).
//!
//! * [`syscalls`] — the system call table generated from `syscalls.master`;
//! * [`types`] — XNU's C argument types (`int`, `pid_t`, `user_addr_t`, …) as Rust types;
//! * [`errno`] — error numbers;
//! * [`fcntl`] — open flags;
//! * [`mman`] — mmap protections, flags, advice, inheritance;
//! * [`mount`] — `struct statfs`, mount flags and file system type numbers;
//! * [`param`] — path and name limits (`PATH_MAX`, `MAXPATHLEN`, `NAME_MAX`);
//! * [`pthread`] — `bsdthread_create` flags;
//! * [`proc_info`] — `proc_info` calls and flavors, `proc_bsdinfo`, `proc_taskinfo`, `kinfo_proc`;
//! * [`resource`] — priority targets, limits and `struct rusage`;
//! * [`time`] — `timeval`, `timezone`;
//! * [`signal`] — signal numbers and sets, `sigaction`, `sigaltstack` and `siginfo` layouts;
//! * [`ucontext`] — the arm64 signal frame: `ucontext64`, `mcontext64` and its register states;
//! * [`spawn`] — `posix_spawn` flags and layouts;
//! * [`stat`] — file mode bits;
//! * [`sysctl`] — `sysctl` names;
//! * [`wait`] — the `wait4` options and status encoding;
//! * [`trap`] — how a BSD call returns (carry flag) and the platform call.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod c_headers;
pub mod errno;
pub mod fcntl;
#[cfg(test)]
mod layout_tests;
pub mod mman;
pub mod mount;
pub mod param;
pub mod poll;
pub mod proc_info;
pub mod pthread;
pub mod resource;
pub mod signal;
pub mod spawn;
pub mod stat;
pub mod syscalls;
#[cfg(test)]
mod syscalls_master;
pub mod sysctl;
pub mod time;
pub mod trap;
pub mod types;
pub mod ucontext;
pub mod wait;

pub use errno::Errno;
/// The byte views of the ABI structs, for user space reading a record the kernel wrote
/// (`ProcBsdInfo::read_from_prefix`) or handing it a struct to fill (`as_mut_bytes`).
pub use zerocopy::{FromBytes, IntoBytes};
