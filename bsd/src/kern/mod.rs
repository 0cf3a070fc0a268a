//! The BSD kernel proper: processes over Mach tasks, exec, exit, signals, descriptors and
//! the system call table. The pure pieces (ELF checks, the exec stack image, the system call
//! argument conversion in `sysproto`, posix_spawn's file-action parser, the descriptor
//! table and `uio`, the I/O cursor over user memory, `flock`'s lock lists) are unit-tested
//! on the host; the glue
//! to Mach tasks and threads builds for the target only.

pub mod exec_elf;
pub mod exec_stack;
pub mod kern_credential;
pub mod kern_descrip;
pub mod kern_lockf;
pub mod kern_pgrp;
pub mod kern_pid;
pub mod kern_sendsig;
pub mod kern_sigacts;
pub mod kern_sigstate;
pub mod kern_wait;
pub mod pipe_ring;
pub mod proc_filter;
pub mod select;
pub mod spawn_file_actions;
pub mod sysproto;
pub mod ubc_subr;
pub mod uio;

#[cfg(target_os = "none")]
pub mod bsd_hooks;
#[cfg(target_os = "none")]
pub mod bsd_init;
#[cfg(target_os = "none")]
pub mod kern_exec;
#[cfg(target_os = "none")]
pub mod kern_exit;
#[cfg(target_os = "none")]
pub mod kern_fork;
#[cfg(target_os = "none")]
pub mod kern_mman;
#[cfg(target_os = "none")]
pub mod kern_proc;
#[cfg(target_os = "none")]
pub mod kern_prot;
#[cfg(target_os = "none")]
pub mod kern_resource;
#[cfg(target_os = "none")]
pub mod kern_rlimit;
#[cfg(target_os = "none")]
pub mod kern_sig;
#[cfg(target_os = "none")]
pub mod kern_spawn;
#[cfg(target_os = "none")]
pub mod kern_synch;
#[cfg(target_os = "none")]
pub mod kern_sysctl;
#[cfg(target_os = "none")]
pub mod kern_time;
#[cfg(target_os = "none")]
pub mod proc_info;
#[cfg(target_os = "none")]
pub mod pthread_support;
#[cfg(target_os = "none")]
pub mod sys_fileport;
#[cfg(target_os = "none")]
pub mod sys_generic;
#[cfg(target_os = "none")]
pub mod sys_pipe;
#[cfg(target_os = "none")]
pub mod syscalls;
