//! The Mach C API over the trap stubs, under XNU's names, one module per concern: messages
//! (`mach_msg` with Libsyscall's restart rules, [`MsgBuf`]), ports and rights, virtual memory,
//! tasks and threads, the host, semaphores and exception ports. The port and VM calls use the
//! `_kernelrpc` traps for the caller's own task and fall back to the MIG routine for another
//! task's port, as Libsyscall does. The MIG routines' stubs ([`mig`]) are generated from the
//! same declarations (`mach::for_each_mig_routine!`) the kernel's servers decode with, and
//! answer typed replies; the C-named calls adapt them to XNU's signatures.

mod exception;
mod host;
pub mod mig;
mod msg;
mod port;
mod semaphore;
mod task;
mod vm;

pub use exception::*;
pub use host::*;
pub use mig::{MIG_BUFFER_SIZE, MigBuffer, mig_call};
pub use msg::*;
pub use port::*;
pub use semaphore::*;
pub use task::*;
pub use vm::*;
