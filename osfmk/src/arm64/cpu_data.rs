//! The per-CPU block (XNU's `cpu_data_t`/`processor_t`): one per CPU the device tree lists,
//! reached through TPIDR_EL1, which each CPU points at its own block before it takes a lock.
//!
//! It holds what is "this CPU's": the running thread, the thread being switched away from,
//! the idle thread, the end of the running thread's quantum, the reschedule request, the
//! preemption and interrupt nesting levels, and the emergency stack a kernel stack overflow
//! is reported on. Nothing global stands in for "this CPU": code asks [`current_cpu`].
//!
//! A CPU only ever changes its own block's thread fields (the scheduler does, with
//! interrupts masked); other CPUs read them (to decide whom to preempt) through atomics.
//! The thread pointers are owned by `sched_prim`, which keeps one strong count in each.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI16, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(target_os = "none")]
use crate::kern::thread::Thread;
// Threads exist only in the target build; on the host the thread fields stay null.
#[cfg(not(target_os = "none"))]
type Thread = ();

/// The most CPUs the kernel keeps a block for; a device tree listing more is truncated (and
/// the banner says so).
pub const MAX_CPUS: usize = 8;

/// `current_pri` of an idle CPU: below every thread.
pub const IDLE_PRI: i16 = -1;

/// Bytes of each CPU's emergency stack (a kernel stack overflow is reported on it).
pub const EMERGENCY_STACK_SIZE: usize = 16 * 1024;

/// The state of a CPU. `repr(C)` because the exception vectors read `emergency_stack_top` at a
/// fixed offset ([`EMERGENCY_STACK_TOP_OFFSET`]).
#[repr(C)]
pub struct CpuData {
    /// Top of this CPU's emergency stack (read by the stack-overflow vector).
    emergency_stack_top: AtomicU64,
    /// Index of this CPU (`cpu_number()`), its position in the device tree's list.
    cpu_number: u32,
    /// Has this CPU come up (entered the kernel and set TPIDR_EL1)?
    online: AtomicBool,
    /// The affinity (MPIDR_EL1 bits the device tree's `reg` gives) of this CPU.
    mpidr: AtomicU64,
    /// The running thread: one strong count, owned by `sched_prim`.
    pub(crate) active_thread: AtomicPtr<Thread>,
    /// During a switch, the thread switched away from (its count); the thread switched to
    /// finishes with it (`thread_dispatch`).
    pub(crate) previous_thread: AtomicPtr<Thread>,
    /// This CPU's idle thread (a permanent count).
    pub(crate) idle_thread: AtomicPtr<Thread>,
    /// Absolute time the running thread's quantum ends.
    pub(crate) quantum_end: AtomicU64,
    /// AST_PREEMPT: switch at the next opportunity (quantum over, or a better thread woke).
    pub(crate) need_resched: AtomicBool,
    /// The priority this CPU runs at, for other CPUs choosing whom to preempt (XNU's
    /// `processor->current_pri`): the running thread's, [`IDLE_PRI`] while idle, raised to a
    /// woken thread's when a wakeup picks this CPU (so the next wakeup picks another).
    /// Written under the scheduler lock.
    pub(crate) current_pri: AtomicI16,
    /// Preemption is off while this is non-zero (preemption-disabling locks nest here).
    preemption_level: AtomicU32,
    /// Interrupt handlers running on this CPU (0 in thread context).
    interrupt_level: AtomicU32,
    /// Sequence of switches on this CPU (statistics; the debugger shows it).
    pub(crate) context_switches: AtomicUsize,
    /// Reschedule interrupts (SGIs from other CPUs) this CPU has taken (statistics).
    reschedule_interrupts: AtomicU64,
    /// Clock interrupts this CPU has taken (statistics).
    clock_interrupts: AtomicU64,
    /// Time spent on this CPU in user mode, in the kernel, and in its idle thread, in
    /// absolute-time units (XNU's per-processor user, system and idle timers). Only this CPU
    /// adds to them ([`CpuData::charge_time`]); anyone reads them.
    cpu_time: [AtomicU64; CPU_TIME_KINDS],
    /// The spin locks this CPU holds, for the lock validator. Only this CPU touches it, with
    /// interrupts masked, so the lock is never contended.
    #[cfg(feature = "lock-validator")]
    pub(crate) held_spin: spin::Mutex<crate::kern::lock_order::HeldStack>,
}

/// What a CPU's time went to (the index into its time counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuTime {
    /// A thread running in user mode.
    User = 0,
    /// A thread (other than the idle thread) running in the kernel.
    System = 1,
    /// The CPU's idle thread.
    Idle = 2,
}

const CPU_TIME_KINDS: usize = 3;

/// Offset of the emergency stack top in [`CpuData`], for the exception vectors.
pub const EMERGENCY_STACK_TOP_OFFSET: usize = core::mem::offset_of!(CpuData, emergency_stack_top);
const _: () = assert!(EMERGENCY_STACK_TOP_OFFSET == 0);

impl CpuData {
    const fn new(cpu_number: u32) -> CpuData {
        CpuData {
            emergency_stack_top: AtomicU64::new(0),
            cpu_number,
            online: AtomicBool::new(false),
            mpidr: AtomicU64::new(0),
            active_thread: AtomicPtr::new(core::ptr::null_mut()),
            previous_thread: AtomicPtr::new(core::ptr::null_mut()),
            idle_thread: AtomicPtr::new(core::ptr::null_mut()),
            quantum_end: AtomicU64::new(0),
            need_resched: AtomicBool::new(false),
            current_pri: AtomicI16::new(IDLE_PRI),
            preemption_level: AtomicU32::new(0),
            interrupt_level: AtomicU32::new(0),
            context_switches: AtomicUsize::new(0),
            reschedule_interrupts: AtomicU64::new(0),
            clock_interrupts: AtomicU64::new(0),
            cpu_time: [const { AtomicU64::new(0) }; CPU_TIME_KINDS],
            #[cfg(feature = "lock-validator")]
            held_spin: spin::Mutex::new(crate::kern::lock_order::HeldStack::new()),
        }
    }

    /// This CPU's index.
    pub fn cpu_number(&self) -> u32 {
        self.cpu_number
    }

    /// The CPU's MPIDR affinity.
    pub fn mpidr(&self) -> u64 {
        self.mpidr.load(Ordering::Relaxed)
    }

    /// Is the CPU up?
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Is preemption disabled on this CPU?
    pub fn preemption_disabled(&self) -> bool {
        self.preemption_level.load(Ordering::Relaxed) != 0
    }

    /// How many interrupt handlers are running on this CPU (0: thread context).
    pub fn interrupt_level(&self) -> u32 {
        self.interrupt_level.load(Ordering::Relaxed)
    }

    /// Is a reschedule pending here?
    pub fn need_resched(&self) -> bool {
        self.need_resched.load(Ordering::Relaxed)
    }

    /// Ask this CPU to reschedule at its next opportunity.
    pub fn set_need_resched(&self) {
        self.need_resched.store(true, Ordering::Relaxed);
    }

    /// Context switches this CPU has made.
    pub fn context_switches(&self) -> usize {
        self.context_switches.load(Ordering::Relaxed)
    }

    /// Reschedule interrupts this CPU has taken.
    pub fn reschedule_interrupts(&self) -> u64 {
        self.reschedule_interrupts.load(Ordering::Relaxed)
    }

    /// Clock interrupts this CPU has taken.
    pub fn clock_interrupts(&self) -> u64 {
        self.clock_interrupts.load(Ordering::Relaxed)
    }

    /// This CPU took a clock interrupt (its own block only: the interrupt handler).
    pub fn note_clock_interrupt(&self) {
        self.clock_interrupts.fetch_add(1, Ordering::Relaxed);
    }

    /// This CPU took a reschedule interrupt (its own block only: the interrupt handler).
    pub fn note_reschedule_interrupt(&self) {
        self.reschedule_interrupts.fetch_add(1, Ordering::Relaxed);
    }
}

static CPUS: [CpuData; MAX_CPUS] = [
    CpuData::new(0),
    CpuData::new(1),
    CpuData::new(2),
    CpuData::new(3),
    CpuData::new(4),
    CpuData::new(5),
    CpuData::new(6),
    CpuData::new(7),
];

/// How many CPUs the device tree listed (at most [`MAX_CPUS`]); 1 until told.
static CPU_COUNT: AtomicUsize = AtomicUsize::new(1);

/// The emergency stacks, one per CPU.
#[repr(C, align(16))]
struct EmergencyStacks([UnsafeCell<[u8; EMERGENCY_STACK_SIZE]>; MAX_CPUS]);

// SAFETY: each stack is only ever used as a stack, by the stack-overflow vector of the one
// CPU whose block points at it; Rust code never reads or writes it through this static.
unsafe impl Sync for EmergencyStacks {}

static EMERGENCY_STACKS: EmergencyStacks =
    EmergencyStacks([const { UnsafeCell::new([0; EMERGENCY_STACK_SIZE]) }; MAX_CPUS]);

/// The MPIDR_EL1 affinity fields (Aff3, Aff2–Aff0), as the device tree's `reg` of a CPU
/// node gives them (ARM ARM D23.2.122).
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// The boot CPU takes block 0 (`cpu_number() == 0`, as in XNU) as its first act, before
/// the device tree is read. It is online from then on.
pub fn cpu_data_attach_boot(mpidr: u64) {
    CPUS[0].mpidr.store(mpidr & MPIDR_AFFINITY_MASK, Ordering::Relaxed);
    cpu_data_attach(&CPUS[0]);
    cpu_set_online(&CPUS[0]);
}

/// Record the other CPUs the device tree lists, by MPIDR affinity, in its order (the boot
/// CPU need not be first in it, nor have affinity 0; its entry is skipped). Returns how
/// many CPUs have a block now, and how many listed CPUs did not fit in [`MAX_CPUS`].
pub fn cpu_data_register(listed: impl IntoIterator<Item = u64>) -> (usize, usize) {
    let boot = CPUS[0].mpidr();
    let mut n = 1;
    let mut dropped = 0;
    for mpidr in listed.into_iter().map(|m| m & MPIDR_AFFINITY_MASK).filter(|&m| m != boot) {
        let Some(cpu) = CPUS.get(n) else {
            dropped += 1;
            continue;
        };
        cpu.mpidr.store(mpidr, Ordering::Relaxed);
        let top = EMERGENCY_STACKS.0[n].get() as u64 + EMERGENCY_STACK_SIZE as u64;
        cpu.emergency_stack_top.store(top, Ordering::Relaxed);
        n += 1;
    }
    CPU_COUNT.store(n, Ordering::Release);
    (n, dropped)
}

/// How many CPUs have a block.
pub fn cpu_count() -> usize {
    CPU_COUNT.load(Ordering::Acquire)
}

/// Every CPU's block (for the scheduler choosing a CPU, and for the debugger).
pub fn all_cpus() -> &'static [CpuData] {
    &CPUS[..cpu_count()]
}

/// Make `cpu` this CPU's block: TPIDR_EL1 points at it from now on. Called once per CPU,
/// first thing, before it takes any lock. The CPU is not online (a choice for other CPUs
/// placing work) until [`cpu_set_online`].
pub fn cpu_data_attach(cpu: &'static CpuData) {
    if cpu.emergency_stack_top.load(Ordering::Relaxed) == 0 {
        let i = cpu.cpu_number as usize;
        let top = EMERGENCY_STACKS.0[i].get() as u64 + EMERGENCY_STACK_SIZE as u64;
        cpu.emergency_stack_top.store(top, Ordering::Relaxed);
    }
    #[cfg(target_os = "none")]
    // SAFETY: TPIDR_EL1 is reserved for the kernel's per-CPU pointer; `cpu` is a static
    // that lives forever, so the pointer stays valid.
    unsafe {
        core::arch::asm!("msr tpidr_el1, {}", in(reg) cpu as *const CpuData as u64, options(nostack, preserves_flags))
    };
}

/// `cpu` runs the scheduler now: other CPUs may hand it work (and signal it).
pub fn cpu_set_online(cpu: &CpuData) {
    cpu.online.store(true, Ordering::Release);
}

/// How many CPUs are online (XNU's `avail_cpus`; at most [`cpu_count`]).
pub fn cpus_online() -> usize {
    all_cpus().iter().filter(|c| c.is_online()).count()
}

/// The block of the CPU this code runs on. A thread that can be preempted may move to
/// another CPU right after the call; what it reads of "its" CPU is then only a hint — the
/// scheduler reads its own block with interrupts masked.
#[inline]
pub fn current_cpu() -> &'static CpuData {
    #[cfg(target_os = "none")]
    {
        let p: u64;
        // SAFETY: reading TPIDR_EL1 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el1", out(reg) p, options(nomem, nostack, preserves_flags))
        };
        if p != 0 {
            // SAFETY: a non-zero TPIDR_EL1 was set by `cpu_data_attach` to one of the static
            // blocks in `CPUS`.
            return unsafe { &*(p as *const CpuData) };
        }
    }
    // Before the boot CPU attached (the first lines of boot), and on the host, CPU 0.
    &CPUS[0]
}

/// [`current_cpu`] for code that only runs once this CPU is attached — anything that takes a
/// lock: every CPU attaches its block first thing, before any lock (`cpu_data_attach`).
#[inline(always)]
fn attached_cpu() -> &'static CpuData {
    #[cfg(target_os = "none")]
    {
        let p: u64;
        // SAFETY: reading TPIDR_EL1 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el1", out(reg) p, options(nomem, nostack, preserves_flags))
        };
        // SAFETY: each CPU points TPIDR_EL1 at its static block in `CPUS` (`cpu_data_attach`)
        // before it takes any lock, and the callers are the locks.
        unsafe { &*(p as *const CpuData) }
    }
    #[cfg(not(target_os = "none"))]
    &CPUS[0]
}

/// `cpu_number()`: this CPU's index.
#[inline]
pub fn cpu_number() -> u32 {
    current_cpu().cpu_number
}

/// Disable preemption on this CPU (nests). Interrupts still arrive; the switch they would
/// cause waits until [`preemption_enable`] brings the level back to zero.
#[inline]
pub fn preemption_disable() {
    let _ = preemption_disable_here();
}

/// Undo one [`preemption_disable`]. Returns whether preemption is now enabled and a
/// reschedule is pending (the caller may switch now).
#[inline]
pub fn preemption_enable() -> bool {
    let cpu = current_cpu();
    assert!(cpu.preemption_disabled(), "preemption_enable without preemption_disable");
    cpu.preemption_enable_here()
}

/// [`preemption_disable`] for a lock that gives it back itself: returns this CPU's block,
/// which stays this CPU's until the matching [`CpuData::preemption_enable_here`] (with
/// preemption off the thread cannot move). The preemption-disabling spin lock's fast path.
#[inline(always)]
pub fn preemption_disable_here() -> &'static CpuData {
    // Interrupts stay masked from finding this CPU's block to raising its level: otherwise
    // an interrupt in between could preempt (the level still 0) and the thread resume on
    // another CPU, then raise the level of a CPU it no longer runs on. Once the level is up
    // the thread stays here. A plain load and store then suffices: only this CPU changes its
    // level. (On the host every test thread shares block 0: there it is a real
    // read-modify-write.)
    #[cfg(target_os = "none")]
    let cpu = {
        let _masked = crate::arm64::cpu::InterruptsMasked::new();
        let cpu = attached_cpu();
        let level = cpu.preemption_level.load(Ordering::Relaxed);
        cpu.preemption_level.store(level + 1, Ordering::Relaxed);
        cpu
    };
    #[cfg(not(target_os = "none"))]
    let cpu = attached_cpu();
    #[cfg(not(target_os = "none"))]
    cpu.preemption_level.fetch_add(1, Ordering::Relaxed);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    cpu
}

impl CpuData {
    /// Undo a [`preemption_disable_here`] that returned this block. Returns whether
    /// preemption is now enabled and a reschedule is pending.
    #[inline(always)]
    pub fn preemption_enable_here(&self) -> bool {
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        #[cfg(target_os = "none")]
        let level = {
            let level = self.preemption_level.load(Ordering::Relaxed).wrapping_sub(1);
            self.preemption_level.store(level, Ordering::Relaxed);
            level
        };
        #[cfg(not(target_os = "none"))]
        let level = self.preemption_level.fetch_sub(1, Ordering::Relaxed).wrapping_sub(1);
        level == 0 && self.need_resched.load(Ordering::Relaxed)
    }
}

/// An interrupt handler starts on this CPU (the IRQ vector calls it; interrupts are masked).
#[inline]
pub fn interrupt_enter() {
    current_cpu().interrupt_level.fetch_add(1, Ordering::Relaxed);
}

/// The interrupt handler that [`interrupt_enter`] announced is done.
#[inline]
pub fn interrupt_exit() {
    current_cpu().interrupt_level.fetch_sub(1, Ordering::Relaxed);
}

/// Is this CPU running an interrupt handler?
#[inline]
pub fn in_interrupt() -> bool {
    current_cpu().interrupt_level() != 0
}

impl CpuData {
    /// Charge `ticks` of absolute time spent on this CPU to `kind`. Called on the CPU that
    /// spent them, by the scheduler's accounting, with interrupts masked.
    pub fn charge_time(&self, kind: CpuTime, ticks: u64) {
        self.cpu_time[kind as usize].fetch_add(ticks, Ordering::Relaxed);
    }

    /// Absolute time this CPU has spent on `kind` since boot.
    pub fn time_spent(&self, kind: CpuTime) -> u64 {
        self.cpu_time[kind as usize].load(Ordering::Relaxed)
    }
}
