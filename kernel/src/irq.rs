//! Interrupt routing: acknowledge at the GIC, run the device's handler, end the interrupt.

use osfmk::kern::locks::SpinLock;

use crate::drivers::gic::Gic;

struct IrqState {
    gic: Gic,
    timer: u32,
    uart: Option<u32>,
}

static IRQ: SpinLock<Option<IrqState>> = SpinLock::new(None);

/// Bring up the GIC and route the timer and UART interrupts to us.
pub fn init(gic: Gic, timer: u32, uart: Option<u32>) {
    gic.init();
    gic.enable(timer);
    if let Some(u) = uart {
        gic.enable(u);
    }
    *IRQ.lock() = Some(IrqState { gic, timer, uart });
}

/// Handle every pending interrupt.
pub fn handle() {
    loop {
        let (intid, timer, uart) = {
            let guard = IRQ.lock();
            let Some(s) = guard.as_ref() else { return };
            let Some(intid) = s.gic.ack() else { return };
            (intid, s.timer, s.uart)
        };
        if intid == timer {
            crate::timer::handle_irq();
        } else if Some(intid) == uart {
            crate::console::handle_irq();
        }
        if let Some(s) = IRQ.lock().as_ref() {
            s.gic.eoi(intid);
        }
    }
}
