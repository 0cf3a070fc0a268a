//! The Mach kernel proper: tasks, threads, the scheduler, traps, exceptions and time.

pub mod clock;
pub mod exception;
pub mod host;
#[cfg(target_os = "none")]
pub mod ipc_kobject;
pub mod locks;
#[cfg(target_os = "none")]
pub mod mig_servers;
pub mod sched;
pub mod sched_prim;
pub mod stack;
#[cfg(target_os = "none")]
pub mod sync_sema;
#[cfg(target_os = "none")]
pub mod syscall_subr;
#[cfg(target_os = "none")]
pub mod syscall_sw;
#[cfg(target_os = "none")]
pub mod task;
#[cfg(target_os = "none")]
pub mod task_for_pid;
#[cfg(target_os = "none")]
pub mod thread;
#[cfg(target_os = "none")]
pub mod thread_act;
pub mod timer_call;
