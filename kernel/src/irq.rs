//! Interrupt routing: acknowledge at the GIC, run the device's handler, end the interrupt;
//! and the signal the CPUs send each other (the scheduler's [`CpuSignal`]).
//!
//! The routing table is fixed once the GIC is up and the acknowledge and end-of-interrupt
//! go to this CPU's own interface, so taking an interrupt takes no lock here. Handlers run
//! in interrupt context (`cpu_data::interrupt_enter`): they take only interrupt-masking
//! spin locks and only wake threads.
//!
//! The reschedule SGI carries no message: whoever sends it has already set what the target
//! is to look at (its `need_resched`, a thread's AST generation) before sending, and the
//! target looks on its way out of the interrupt (`ast_check_preempt`, or the AST check on
//! the way back to user mode).

use osfmk::arm64::cpu_data;
use osfmk::kern::sched_prim::CpuSignal;

use crate::drivers::gic::{Gic, GicCpuError};

/// The SGI the CPUs send each other to make the target reschedule (and look at its
/// running thread's ASTs).
pub const SGI_RESCHEDULE: u32 = 1;

struct IrqState {
    gic: Gic,
    timer: u32,
    uart: Option<u32>,
}

static IRQ: spin::Once<IrqState> = spin::Once::new();

/// Bring up the GIC on the boot CPU and route the timer, the UART and the reschedule SGI to
/// it.
pub fn init(gic: Gic, timer: u32, uart: Option<u32>) -> Result<(), GicCpuError> {
    gic.init_distributor();
    gic.init_cpu(cpu_data::current_cpu().mpidr())?;
    gic.enable(timer);
    gic.enable(SGI_RESCHEDULE);
    if let Some(u) = uart {
        gic.enable(u);
    }
    IRQ.call_once(|| IrqState { gic, timer, uart });
    Ok(())
}

/// Bring up this (secondary) CPU's GIC interface, its timer interrupt and the reschedule
/// SGI. Shared peripheral interrupts stay with the boot CPU.
pub fn init_secondary() -> Result<(), GicCpuError> {
    let Some(s) = IRQ.get() else { return Err(GicCpuError::NoRedistributor) };
    s.gic.init_cpu(cpu_data::current_cpu().mpidr())?;
    s.gic.enable(s.timer);
    s.gic.enable(SGI_RESCHEDULE);
    Ok(())
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
        } else if intid == SGI_RESCHEDULE {
            // Nothing to do here but count it: the way out of the interrupt looks.
            cpu_data::current_cpu().note_reschedule_interrupt();
        }
        s.gic.eoi(intid);
    }
    cpu_data::interrupt_exit();
}

/// The scheduler's way to reach another CPU: the reschedule SGI.
pub struct GicSignal;

/// The one instance, registered with the scheduler before the secondary CPUs start.
pub static GIC_SIGNAL: GicSignal = GicSignal;

impl CpuSignal for GicSignal {
    fn signal_reschedule(&self, cpu: u32) {
        if let Some(s) = IRQ.get() {
            s.gic.send_sgi(cpu, SGI_RESCHEDULE);
        }
    }
}
