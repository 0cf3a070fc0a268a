//! The EL1 virtual timer (CNTV_*): one interrupt per scheduler tick. The counter it runs on
//! is Mach absolute time; user space may read it directly (CNTKCTL_EL1.EL0VCTEN).

use core::sync::atomic::{AtomicU64, Ordering};

use osfmk::kern::clock::nanoseconds_to_absolutetime;
use osfmk::kern::sched_prim::{self, QUANTUM_NS};

static TICKS: AtomicU64 = AtomicU64::new(0);
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// CNTV_CTL_EL0.ENABLE (ARM ARM D19.12): timer on, interrupt not masked.
const CNTV_CTL_ENABLE: u64 = 1;
/// CNTKCTL_EL1.EL0VCTEN: EL0 may read CNTVCT_EL0 (Darwin's user `mach_absolute_time`).
const CNTKCTL_EL0VCTEN: u64 = 1 << 1;

fn arm(interval: u64) {
    // SAFETY: programming this CPU's virtual timer only affects when its interrupt fires.
    unsafe {
        core::arch::asm!("msr cntv_tval_el0, {}", "msr cntv_ctl_el0, {}", "isb",
            in(reg) interval, in(reg) CNTV_CTL_ENABLE, options(nostack, preserves_flags));
    }
}

/// Start ticking once per quantum.
pub fn init() {
    let interval = nanoseconds_to_absolutetime(QUANTUM_NS);
    INTERVAL.store(interval, Ordering::Relaxed);
    // SAFETY: grants EL0 read access to the virtual counter only.
    unsafe {
        core::arch::asm!("msr cntkctl_el1, {}", "isb", in(reg) CNTKCTL_EL0VCTEN, options(nostack, preserves_flags))
    };
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
