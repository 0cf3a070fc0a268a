//! Device drivers: one register block per device, its address always from the DTB.

pub mod gic;
pub mod pl011;
pub mod psci;
pub mod semihosting;
