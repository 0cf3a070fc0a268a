//! XNU's C argument types as Rust types (`bsd/sys/types.h`, `_types.h`, and the kernel's
//! `user_addr_t`/`user_size_t` for a 64-bit process). `syscalls.master` names its argument
//! types with these names and `for_each_std_syscall!` passes them on, so the kernel's
//! handlers and the user stubs agree with the table on every argument's type.
//!
//! A 32-bit type is the low 32 bits of its argument register (the 64-bit argument layout
//! puts it in the low half of an 8-byte slot); the kernel converts registers in one place
//! (`bsd::kern::syscalls::SysArg`). The kernel replaces `user_addr_t` by its own checked
//! address type; user space passes a plain address.
#![allow(non_camel_case_types)]

pub type int = i32;
pub type u_int = u32;
pub type long = i64;
pub type u_long = u64;
pub type int32_t = i32;
pub type uint32_t = u32;
pub type int64_t = i64;
pub type uint64_t = u64;
pub type size_t = usize;
/// A size in a 64-bit process's terms.
pub type user_size_t = usize;
pub type off_t = i64;
pub type pid_t = i32;
pub type uid_t = u32;
pub type gid_t = u32;
/// A process, group or user id (`getpriority`'s `who`).
pub type id_t = u32;
pub type sigset_t = u32;
pub type socklen_t = u32;
/// A Mach port name in the caller's IPC space (`fileport_makefd` takes one).
pub type mach_port_name_t = u32;
/// A user address (every pointer argument).
pub type user_addr_t = u64;
