//! The BSD personality (XNU's `bsd`).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod fs;
pub mod kern;
pub mod vfs;
