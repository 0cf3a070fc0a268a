//! The EL1 virtual timer (CNTV_*): the scheduler's clock device. The scheduler asks for an
//! interrupt at an absolute time (the end of the quantum, or the earliest wait deadline) and
//! the compare register takes it as is. The counter it compares against is Mach absolute
//! time; user space may read it directly (CNTKCTL_EL1.EL0VCTEN).

use aarch64_cpu::registers::{CNTKCTL_EL1, CNTV_CTL_EL0, CNTV_CVAL_EL0, Writeable};
use osfmk::kern::sched_prim::{self, ClockDevice};

/// The virtual timer as the scheduler's clock.
pub struct VirtualTimer;

/// The one instance.
pub static VIRTUAL_TIMER: VirtualTimer = VirtualTimer;

impl ClockDevice for VirtualTimer {
    fn set_deadline(&self, deadline: u64) {
        // The interrupt is level-triggered on CVAL <= counter: a new compare value in the
        // future also drops a pending level.
        CNTV_CVAL_EL0.set(deadline);
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    }
}

/// Let EL0 read the counter (Darwin's user-space `mach_absolute_time` does). The
/// scheduler programs the first deadline in `sched_init`.
pub fn init() {
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
}

/// The timer fired: the scheduler expires deadlines and quanta and sets the next one.
pub fn handle_irq() {
    sched_prim::clock_interrupt();
}
