//! The aarch64 machine layer: interrupt masking, the per-CPU blocks, the context switch and
//! the thread references it hands over, user-memory access and the pmap. This is one of the two rooms where `unsafe` lives (the other is `kernel/`).
//! Pure logic here (descriptor encodings, ESR decoding, the trap frame) also builds on the
//! host for tests; everything that touches system registers is compiled only for the target.
#![allow(unsafe_code)]

pub mod cpu;
pub mod cpu_data;
pub mod esr;
pub mod pmap;
pub mod trapframe;

#[cfg(target_os = "none")]
pub mod copyio;
#[cfg(target_os = "none")]
pub mod cswitch;
#[cfg(target_os = "none")]
pub mod exception_return;
#[cfg(target_os = "none")]
pub mod mem;
#[cfg(target_os = "none")]
pub mod thread_machine;
