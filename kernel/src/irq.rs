//! Interrupt routing: acknowledge at the GIC, run the device's handler, end the interrupt.
//!
//! The routing table is fixed once the GIC is up and the acknowledge and end-of-interrupt
//! go to this CPU's own interface, so taking an interrupt takes no lock here. Handlers run
//! in interrupt context (`cpu_data::interrupt_enter`): they take only interrupt-masking
//! spin locks and only wake threads.

use osfmk::arm64::cpu_data;

use crate::drivers::gic::Gic;

struct IrqState {
    gic: Gic,
    timer: u32,
    uart: Option<u32>,
}

static IRQ: spin::Once<IrqState> = spin::Once::new();

/// Bring up the GIC and route the timer and UART interrupts to us.
pub fn init(gic: Gic, timer: u32, uart: Option<u32>) {
    gic.init();
    gic.enable(timer);
    if let Some(u) = uart {
        gic.enable(u);
    }
    IRQ.call_once(|| IrqState { gic, timer, uart });
}

/// Handle every pending interrupt (IRQs masked, on the interrupted thread's stack).
pub fn handle() {
    let Some(s) = IRQ.get() else { return };
    cpu_data::interrupt_enter();
    while let Some(intid) = s.gic.ack() {
        if intid == s.timer {
            crate::timer::handle_irq();
        } else if Some(intid) == s.uart {
            crate::console::handle_irq();
        }
        s.gic.eoi(intid);
    }
    cpu_data::interrupt_exit();
}
