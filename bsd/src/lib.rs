//! The BSD personality (XNU's `bsd`): processes, credentials, signals, descriptors, the
//! VFS and the file systems, layered on the Mach core.
//!
//! # A tour
//! * A `kern::kern_proc::Proc` wraps a Mach task (`osfmk::kern::task`); BSD asks `osfmk`
//!   for tasks, threads, memory and ports and never reaches into the machine. Mach calls
//!   back up only through `osfmk::kern::exception::BsdHooks` (exceptions become signals,
//!   the AST on the way to user mode delivers them, `task_for_pid`), which BSD implements
//!   in `kern::bsd_hooks` and installs at boot.
//! * Boot: the kernel image calls `kern::bsd_init::bsd_init` after Mach is up: sysctl
//!   identity, proc 0 around the kernel task, the root ramfs from the initrd
//!   ([`fs::ramfs`]), then `/sbin/init` as pid 1 through the exec path (`kern::kern_exec`,
//!   `kern::exec_elf`, `kern::exec_stack`).
//! * Rooms: [`kern`] — processes and their lifecycle (`kern_fork`, `kern_exec`,
//!   `kern_exit`, `kern_wait`, `kern_pid`, `kern_pgrp`), credentials (`kern_prot`), signals
//!   (`kern_sig`, `kern_sigstate`, `kern_sendsig`), descriptors (`kern_descrip`), memory
//!   calls (`kern_mman`), limits, time, sysctl and proc_info, and the system call table
//!   (`syscalls`); [`vfs`] — vnodes, name lookup, the file calls; [`fs`] — file systems;
//!   [`vm`] — `task_for_pid` and `pid_for_task`.
//! * The ABI (numbers, structures, errno values) is the `sys` crate, shared with user space;
//!   this crate has no `unsafe`: user memory is reached only through `osfmk`'s typed
//!   copyin/copyout (`osfmk::vm::user_ptr`).
//!
//! # Where to add things
//! * A system call: its line in `bsd/sys/syscalls.master` (number, STD, return kind, XNU's
//!   prototype) and a handler of the same name in `kern::syscalls`; the dispatcher and the
//!   user stub in `libsys` are generated from the line.
//! * A sysctl: a node in `kern::kern_sysctl`'s table.
//! * A file system: a module in [`fs`] implementing the vnode operations of [`vfs::vnode`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod fs;
pub mod kern;
pub mod miscfs;
pub mod vfs;
pub mod vm;
