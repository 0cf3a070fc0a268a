//! The EL1 virtual timer (CNTV_*): one interrupt per scheduler tick. The counter it runs on
//! is Mach absolute time; user space may read it directly (CNTKCTL_EL1.EL0VCTEN).

use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{CNTKCTL_EL1, CNTV_CTL_EL0, CNTV_TVAL_EL0, Writeable};

use osfmk::kern::clock::nanoseconds_to_absolutetime;
use osfmk::kern::sched_prim::{self, QUANTUM_NS};

static TICKS: AtomicU64 = AtomicU64::new(0);
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// Fire the timer `interval` ticks from now (the interrupt is level-triggered: re-arming
/// also drops the pending level).
fn arm(interval: u64) {
    CNTV_TVAL_EL0.set(interval);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Start ticking once per quantum.
pub fn init() {
    let interval = nanoseconds_to_absolutetime(QUANTUM_NS);
    INTERVAL.store(interval, Ordering::Relaxed);
    // EL0 may read CNTVCT_EL0: Darwin's user-space `mach_absolute_time` does.
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
    arm(interval);
}

/// The tick: re-arm and tell the scheduler the quantum is over.
pub fn handle_irq() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    arm(INTERVAL.load(Ordering::Relaxed));
    sched_prim::sched_tick();
}

/// Ticks since the timer started.
#[cfg_attr(not(feature = "ktest"), allow(dead_code))]
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}
