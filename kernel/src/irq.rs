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

/// How many interrupt sources the table holds (the timer, the UART, the SGI, and room for
/// the virtio devices to come).
pub const MAX_IRQ_ROUTES: usize = 16;

/// Where an interrupt is taken: on every CPU (its private timer, SGIs: each CPU's GIC
/// interface enables it) or on the boot CPU only (shared peripheral interrupts, routed there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqScope {
    PerCpu,
    BootCpu,
}

/// One entry of the routing table: an interrupt ID, who takes it, and its handler.
#[derive(Clone, Copy)]
pub struct IrqRoute {
    pub intid: u32,
    pub name: &'static str,
    pub scope: IrqScope,
    /// Runs in interrupt context with IRQs masked (see the module doc for what it may do).
    pub handler: fn(),
}

/// A routing table that cannot be installed.
pub enum IrqInitError {
    /// Two routes name the same interrupt ID.
    Duplicate(u32),
    /// More than [`MAX_IRQ_ROUTES`] routes.
    TooMany,
    /// The boot CPU's GIC interface did not come up.
    Cpu(GicCpuError),
}

impl core::fmt::Debug for IrqInitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IrqInitError::Duplicate(intid) => write!(f, "interrupt {intid} is routed twice"),
            IrqInitError::TooMany => write!(f, "more than {MAX_IRQ_ROUTES} interrupt routes"),
            IrqInitError::Cpu(e) => write!(f, "the boot CPU's GIC interface: {e:?}"),
        }
    }
}

impl core::fmt::Display for IrqRoute {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let scope = match self.scope {
            IrqScope::PerCpu => "every CPU",
            IrqScope::BootCpu => "boot CPU",
        };
        write!(f, "{} {} ({scope})", self.name, self.intid)
    }
}

struct IrqState {
    gic: Gic,
    routes: [Option<IrqRoute>; MAX_IRQ_ROUTES],
}

impl IrqState {
    fn per_cpu_routes(&self) -> impl Iterator<Item = &IrqRoute> {
        self.routes.iter().flatten().filter(|r| r.scope == IrqScope::PerCpu)
    }
}

static IRQ: spin::Once<IrqState> = spin::Once::new();

/// The reschedule SGI's handler: nothing to do but count it, the way out of the interrupt
/// looks at what the sender set.
fn reschedule_interrupt() {
    cpu_data::current_cpu().note_reschedule_interrupt();
}

/// The route every kernel has: the reschedule SGI, taken on every CPU.
pub const RESCHEDULE_ROUTE: IrqRoute = IrqRoute {
    intid: SGI_RESCHEDULE,
    name: "reschedule",
    scope: IrqScope::PerCpu,
    handler: reschedule_interrupt,
};

/// Bring up the GIC on the boot CPU and install the routing table: every route is enabled
/// on this CPU; per-CPU routes are enabled on each secondary CPU as it starts. The table is
/// fixed from here on.
pub fn init(gic: Gic, routes: &[IrqRoute]) -> Result<(), IrqInitError> {
    if routes.len() > MAX_IRQ_ROUTES {
        return Err(IrqInitError::TooMany);
    }
    let mut table = [None; MAX_IRQ_ROUTES];
    for (i, r) in routes.iter().enumerate() {
        if routes[..i].iter().any(|o| o.intid == r.intid) {
            return Err(IrqInitError::Duplicate(r.intid));
        }
        table[i] = Some(*r);
    }
    gic.init_distributor();
    gic.init_cpu(cpu_data::current_cpu().mpidr()).map_err(IrqInitError::Cpu)?;
    for r in routes {
        gic.enable(r.intid);
    }
    IRQ.call_once(|| IrqState { gic, routes: table });
    Ok(())
}

/// Bring up this (secondary) CPU's GIC interface and enable the per-CPU routes on it.
/// Shared peripheral interrupts stay with the boot CPU.
pub fn init_secondary() -> Result<(), GicCpuError> {
    let Some(s) = IRQ.get() else { return Err(GicCpuError::NoRedistributor) };
    s.gic.init_cpu(cpu_data::current_cpu().mpidr())?;
    for r in s.per_cpu_routes() {
        s.gic.enable(r.intid);
    }
    Ok(())
}

/// Handle every pending interrupt (IRQs masked, on the interrupted thread's stack). An
/// interrupt with no route (spurious or misrouted) is only acknowledged and ended.
pub fn handle() {
    let Some(s) = IRQ.get() else { return };
    cpu_data::interrupt_enter();
    while let Some(intid) = s.gic.ack() {
        if let Some(r) = s.routes.iter().flatten().find(|r| r.intid == intid) {
            (r.handler)();
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
