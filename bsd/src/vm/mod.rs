//! BSD's side of virtual memory (XNU's `bsd/vm`): for now the bridge between pids and Mach
//! task ports (`vm_unix`).

#[cfg(target_os = "none")]
pub mod vm_unix;
