//! The Mach core (XNU's `osfmk`).
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod ipc;
