//! Bringing up the secondary CPUs (XNU's `cpu_start` / `arm_init_cpu`): the boot CPU gives
//! each CPU the device tree lists an idle thread, writes down what its first instructions
//! need (`boot::SecondaryStart`), and starts it through PSCI `CPU_ON`; the CPU enters the
//! kernel at `boot::secondary_entry`, then [`secondary_main`] brings up its vectors, PAN,
//! timer and GIC interface and joins the scheduler on its idle thread.
//!
//! A CPU that cannot be started (PSCI refuses, or it does not check in within
//! [`CHECK_IN_NS`]) is reported and left out; the system runs on the others. One that checks
//! in after it was given up parks itself without touching anything shared.

use core::sync::atomic::{AtomicU8, Ordering};

use alloc::vec::Vec;
use osfmk::arm64::cpu_data::{self, MAX_CPUS};
use osfmk::kern::clock::mach_absolute_time;
use osfmk::kern::locks::SpinLock;
use osfmk::kern::sched_prim::{self, IDLEPRI};
use osfmk::kern::task::TaskRef;
use osfmk::kern::thread::{Thread, ThreadRef};

use crate::boot::SecondaryStart;
use crate::drivers::psci::{self, Conduit};
use crate::kprintln;

/// How long the boot CPU waits for a started CPU to check in.
const CHECK_IN_NS: u64 = 2_000_000_000;
/// And then for one that checked in to come online.
const ONLINE_NS: u64 = 10_000_000_000;

/// Where a secondary CPU's start stands, by CPU number.
const START_NONE: u8 = 0;
/// Started: the boot CPU waits for it.
const START_PENDING: u8 = 1;
/// It checked in and is bringing itself up.
const START_ARRIVED: u8 = 2;
/// It is online: it runs the scheduler.
const START_RUNNING: u8 = 3;
/// The boot CPU gave up on it: if it arrives anyway, it parks.
const START_ABANDONED: u8 = 4;

static START_STATE: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(START_NONE) }; MAX_CPUS];

/// The start blocks, one per CPU: written by the boot CPU only before it starts that CPU.
static START_INFO: SpinLock<[SecondaryStart; MAX_CPUS]> =
    SpinLock::new(&osfmk::kern::lock_order::CPU_START, [const { SecondaryStart::zeroed() }; MAX_CPUS]);

/// Each secondary's idle thread, from its creation on the boot CPU to the moment the CPU takes
/// it in `secondary_main`.
static IDLE_THREADS: SpinLock<[Option<ThreadRef>; MAX_CPUS]> =
    SpinLock::new(&osfmk::kern::lock_order::CPU_START, [const { None }; MAX_CPUS]);

/// What became of the secondaries.
pub struct StartReport {
    pub running: usize,
    /// (CPU number, MPIDR, why) for each CPU left out.
    pub failed: Vec<(u32, u64, &'static str)>,
}

/// Start every CPU the device tree lists besides this one (the boot CPU, with the scheduler
/// running). Returns how many run, counting this one.
pub fn start_secondaries(conduit: Option<Conduit>, kernel_task: &TaskRef) -> StartReport {
    let mut report = StartReport { running: 1, failed: Vec::new() };
    let cpus = cpu_data::all_cpus();
    if cpus.len() > 1 {
        sched_prim::sched_set_cpu_signal(&crate::irq::GIC_SIGNAL);
    }
    for cpu in cpus.iter().skip(1) {
        let n = cpu.cpu_number();
        match start_one(conduit, kernel_task, n) {
            Ok(()) => report.running += 1,
            Err(why) => report.failed.push((n, cpu.mpidr(), why)),
        }
    }
    report
}

fn start_one(conduit: Option<Conduit>, kernel_task: &TaskRef, n: u32) -> Result<(), &'static str> {
    let conduit = conduit.ok_or("no PSCI to start it with")?;
    let i = n as usize;
    let idle = Thread::create(kernel_task.clone(), IDLEPRI, crate::idle_main, 0)
        .ok_or("no memory for its idle thread")?;
    let stack_top = idle.kernel_stack_top().ok_or("its idle thread has no stack")?;
    IDLE_THREADS.lock()[i] = Some(idle);
    let off = crate::memory::kernel_virt_offset();
    let info_pa = {
        let mut infos = START_INFO.lock();
        let info = &mut infos[i];
        use aarch64_cpu::registers::{MAIR_EL1, Readable, SCTLR_EL1, TCR_EL1, TTBR1_EL1};
        *info = SecondaryStart {
            ttbr1: TTBR1_EL1.get(),
            tcr: TCR_EL1.get(),
            mair: MAIR_EL1.get(),
            sctlr: SCTLR_EL1.get(),
            stack_top,
            cpu_number: u64::from(n),
        };
        let va = core::ptr::from_ref(info).addr() as u64;
        // The CPU reads the block with its MMU and caches off: push it to memory first.
        // SAFETY: cleaning a cache line by address changes no data.
        unsafe { core::arch::asm!("dc cvac, {}", "dsb sy", in(reg) va, options(nostack, preserves_flags)) };
        va - off
    };
    START_STATE[i].store(START_PENDING, Ordering::SeqCst);
    let mpidr = cpu_data::all_cpus()[i].mpidr();
    if let Err(e) = psci::cpu_on(conduit, mpidr, crate::boot::secondary_entry_addr() - off, info_pa) {
        START_STATE[i].store(START_NONE, Ordering::SeqCst);
        IDLE_THREADS.lock()[i] = None;
        kprintln!("  CPU {n}: PSCI CPU_ON failed: {e:?}");
        return Err("PSCI CPU_ON failed");
    }
    // Until it checks in it may be given up on; once it has, it only has its own
    // bring-up left, which takes no lock another CPU could be holding for long: wait for it
    // to go online (a CPU that arrived and then hung would panic the boot rather than be
    // left half-started).
    let give_up = sched_prim::deadline_after_ns(CHECK_IN_NS);
    let hung = sched_prim::deadline_after_ns(CHECK_IN_NS + ONLINE_NS);
    loop {
        match START_STATE[i].load(Ordering::Acquire) {
            START_RUNNING => return Ok(()),
            START_PENDING
                if mach_absolute_time() >= give_up
                    && START_STATE[i]
                        .compare_exchange(START_PENDING, START_ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok() =>
            {
                return Err("it did not check in");
            }
            START_ARRIVED if mach_absolute_time() >= hung => {
                panic!("CPU {n} checked in but never came online");
            }
            _ => {}
        }
        sched_prim::thread_sleep_until(sched_prim::deadline_after_ns(1_000_000));
    }
}

/// First Rust code of a secondary CPU, on its idle thread's stack in the upper half, with
/// interrupts masked and `entry_el` the level PSCI started it at.
#[unsafe(no_mangle)]
extern "C" fn secondary_main(cpu_number: u64, _entry_el: u64) -> ! {
    let Some(cpu) = cpu_data::all_cpus().get(cpu_number as usize) else { park() };
    // This CPU's block first: every lock reads it.
    cpu_data::cpu_data_attach(cpu);
    if START_STATE[cpu_number as usize]
        .compare_exchange(START_PENDING, START_ARRIVED, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Given up on (or never asked): stay out of everything.
        park();
    }
    crate::exception::init();
    crate::memory::enable_pan();
    crate::timer::init();
    if let Err(e) = crate::irq::init_secondary() {
        panic!("CPU {cpu_number}: its GIC interface cannot be brought up: {e:?}");
    }
    let idle = IDLE_THREADS.lock()[cpu_number as usize].take().expect("secondary CPU without an idle thread");
    sched_prim::processor_start_secondary(idle, &crate::timer::VIRTUAL_TIMER);
    START_STATE[cpu_number as usize].store(START_RUNNING, Ordering::Release);
    osfmk::arm64::cpu::interrupts_enable();
    sched_prim::idle_thread_loop()
}

fn park() -> ! {
    loop {
        osfmk::arm64::cpu::interrupts_disable();
        osfmk::arm64::cpu::wait_for_interrupt();
    }
}
