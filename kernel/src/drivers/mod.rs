//! Device drivers: one register block per device, its address always from the DTB.

pub mod gic;
pub mod pl011;
// Only BSD reads the wall clock (in-kernel test builds have no BSD).
#[cfg_attr(feature = "ktest", allow(dead_code))]
pub mod pl031;
// Only BSD powers off (in-kernel test builds end through semihosting instead).
#[cfg_attr(feature = "ktest", allow(dead_code))]
pub mod psci;
pub mod semihosting;
