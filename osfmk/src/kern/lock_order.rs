//! The lock order, written once: every lock class in the kernel, outermost first, and the
//! validator that checks it (lockdep/witness style) in the builds `make test` boots.
//!
//! A lock of class B may be taken while one of class A is held only if A comes before B in
//! [`lock_classes!`] below. Two locks of one class nest only when the code says how they are
//! ordered: `lock_nested(subclass)` (the second one with a higher subclass, e.g. the port
//! being moved into a message after the destination port). A class's place in the table is
//! its rank; classes that never nest are still in one line, which costs nothing and keeps
//! the order total.
//!
//! The validator (cargo feature `lock-validator`, forwarded by the kernel crate; off in the
//! `make bench` kernel) remembers, per CPU, the spin locks held and, per thread, the
//! sleeping locks held, each with the place it was taken (`#[track_caller]`). It panics, with
//! both classes and both places, on
//! * an acquisition against the order (it also prints where the opposite, legal order was
//!   first seen, if it was: the validator learns every edge it sees);
//! * blocking (`thread_block`, a sleeping lock's wait, [`assert_may_block`]) with a spin lock
//!   held, or taking a sleeping lock while holding one;
//! * taking a sleeping lock in interrupt context.
//!
//! `try_lock` cannot deadlock, so it is exempt from the order (it is still recorded as held).
//! In-kernel tests provoke violations on purpose through [`expect_violation`], which turns
//! the panic into a returned [`Violation`] for the length of a closure.
//!
//! [`assert_may_block`]: crate::kern::locks::assert_may_block

use core::fmt;
use core::panic::Location;

/// A class of locks: all the locks that play the same part (every port's lock is one class).
#[derive(Debug)]
pub struct LockClass {
    /// What the locks of this class protect, for messages.
    pub name: &'static str,
    /// Place in the order: a lock may be taken while holding only lower ranks.
    pub rank: u16,
}

macro_rules! lock_classes {
    ($($(#[$doc:meta])* $id:ident = $name:literal;)*) => {
        lock_classes!(@rank 0u16; $($(#[$doc])* $id = $name;)*);
        /// Every class, in order (index = rank).
        pub static ALL_CLASSES: &[&LockClass] = &[$(&$id),*];
    };
    (@rank $n:expr; $(#[$doc:meta])* $id:ident = $name:literal; $($rest:tt)*) => {
        $(#[$doc])*
        pub static $id: LockClass = LockClass { name: $name, rank: $n };
        lock_classes!(@rank $n + 1; $($rest)*);
    };
    (@rank $n:expr;) => {};
}

lock_classes! {
    // ---- For the lock tests (outermost: a test may hold them across anything) ------------
    /// Test lock, outer.
    TEST_OUTER = "test outer";
    /// Test lock, inner.
    TEST_INNER = "test inner";
    /// Test sleeping lock.
    TEST_SLEEPING = "test sleeping";

    // ---- BSD: processes, files, vnodes (preemption-disabling spin locks) -------------------
    /// `allproc`: pid → proc (taken before any one proc's locks).
    ALLPROC = "allproc";
    /// The pid allocator.
    PIDS = "pid allocator";
    /// `p_stat`: a process's lifecycle state (zombie, stopped…), its wait4 bookkeeping.
    PROC_STAT = "proc p_stat";
    /// `p_sigacts`: signal actions.
    PROC_SIGACTS = "proc p_sigacts";
    /// `p_signals`: pending process signals.
    PROC_SIGNALS = "proc p_signals";
    /// `p_sigorigin`: who sent the pending signals.
    PROC_SIGORIGIN = "proc p_sigorigin";
    /// A thread's signal state (mask, pending, alternate stack).
    UTHREAD_SIG = "uthread sig";
    /// A thread's last fault address and code.
    UTHREAD_FAULT = "uthread fault";
    /// `p_jobreport`: the stop/continue report wait4 collects.
    PROC_JOBREPORT = "proc p_jobreport";
    /// `p_fd`: the descriptor table.
    PROC_FD = "proc p_fd";
    /// A fileglob's offset (moves atomically with its I/O).
    FILEGLOB_OFFSET = "fileglob offset";
    /// A ramfs's rename lock: one rename at a time per file system, so the two directories
    /// it changes are taken one after the other and a directory's ancestry holds still.
    RAMFS_RENAME = "ramfs rename";
    /// A ramfs directory's entries.
    RAMFS_DIR = "ramfs directory";
    /// A ramfs file's data.
    RAMFS_FILE = "ramfs file data";
    /// A FIFO vnode's pipe slot (`v_fifoinfo`): held to attach or detach an end, so the
    /// last close and a new open agree on whether the pipe lives on.
    FIFOINFO = "vnode fifoinfo";
    /// A pipe's buffer and its ends' counts (closing an end takes it under `p_fd`).
    PIPE = "pipe";
    /// A vnode's times (held only to copy them).
    VNODE_TIMES = "vnode times";
    /// A vnode's advisory lock list (`flock`): released from a description's last close,
    /// which may run under `p_fd`.
    VNODE_LOCKF = "vnode lockf";
    /// A mount's vnodes in long-term use (open files, working directories): a use goes
    /// with an open file's last close, which may run under `p_fd`.
    MOUNT_INUSE = "mount vnodes in use";
    /// `p_ucred`: credentials.
    PROC_UCRED = "proc p_ucred";
    /// `p_comm`: the command name.
    PROC_COMM = "proc p_comm";
    /// `p_rlimit`: resource limits.
    PROC_RLIMIT = "proc p_rlimit";
    /// `p_ru`/`p_cru`: own and children's resource usage.
    PROC_RUSAGE = "proc rusage";
    /// The process groups and sessions table (looked up under any one proc's locks).
    PGRPS = "pgrp table";
    /// `kern.hostname`.
    HOSTNAME = "hostname";

    // ---- Mach: tasks, VM, IPC (preemption-disabling spin locks) ---------------------------
    /// The secondary CPUs' start blocks and idle threads, handed from the boot CPU to each
    /// CPU it starts (taken alone).
    CPU_START = "cpu start";
    /// One thread at a time stops another to read or change its user state (`LckMtx`): two
    /// threads stopping each other would otherwise each be held off the CPU by the other.
    THREAD_STOP = "thread stop";
    /// A task's special ports (`task_set_special_port`).
    TASK_SPECIAL_PORTS = "task special ports";
    /// A task's semaphores.
    TASK_SEMAPHORES = "task semaphores";
    /// A task's or thread's (or the host's) exception ports.
    EXC_ACTIONS = "exception actions";
    /// A task's `vm_map` (interrupt-masking today, the context switch reads the pmap root
    /// under it; an `LckRw` once the map is wrapped as `VmMapLock`). mach_msg holds it while
    /// it copies out-of-line memory and then takes the receiver's space: map → space.
    VM_MAP = "vm_map";
    /// A VM object's pages and shadow.
    VM_OBJECT = "vm_object";
    /// A task's IPC space (its port-name table).
    IPC_SPACE = "ipc_space";
    /// A port set.
    IPC_PSET = "ipc_pset";
    /// A port (nest two with `lock_nested`).
    IPC_PORT = "ipc_port";
    /// A blocked receiver's hand-off slot (ipc_mqueue).
    IPC_MQUEUE_WAITER = "ipc_mqueue receiver slot";
    /// A semaphore's count and state.
    SEMAPHORE = "semaphore";
    /// A task's thread list.
    TASK_THREADS = "task threads";

    /// A user pmap (a task's translation tables, held only while they change: a fault
    /// holding the map's read lock enters its page here).
    PMAP = "user pmap";

    // ---- Taken by the context switch with interrupts masked (interrupt-masking) -----------
    /// The kernel stack slots (`thread_dispatch` frees a dead thread's stack).
    KERNEL_STACKS = "kernel stack slots";
    /// The kernel pmap (kernel translation tables; stacks are mapped and unmapped).
    KERNEL_PMAP = "kernel pmap";
    /// The ASID allocator (the switch activates the next thread's pmap).
    ASIDS = "asid allocator";
    /// The physical frame pool.
    PAGE_POOL = "page pool";

    // ---- The lock kinds' own interlocks -----------------------------------------------------
    /// An `LckMtx`'s or `LckRw`'s interlock (its waiters, the priority it lends).
    LCK_INTERLOCK = "sleeping-lock interlock";

    // ---- Shared with interrupt handlers and the scheduler (interrupt-masking) --------------
    /// A wait queue's list of waiters (interrupt handlers wake threads).
    WAITQ = "waitq";
    /// A thread's priority promotions, lent by waiters on the mutexes it holds.
    THREAD_PROMOTIONS = "thread promotions";
    /// The scheduler: run queues, wait deadlines, every thread's scheduling state.
    SCHED = "scheduler";
    /// Every live thread by address (`thread::thread_by_addr`): a lock waiter looks its
    /// owner up under the lock's interlock; a thread is entered and removed with nearly
    /// anything held, the scheduler lock too (its last reference may go anywhere).
    THREAD_REGISTRY = "thread registry";
    /// The kernel heap (anything may allocate, the scheduler too).
    KERNEL_HEAP = "kernel heap";
    /// The console UART (a panic prints from anywhere).
    CONSOLE_UART = "console uart";
    /// The console's input ring (the UART's receive interrupt fills it holding the UART).
    CONSOLE_INPUT = "console input ring";
}

/// The most classes the validator keeps edges for.
pub const MAX_CLASSES: usize = 64;
const _: () = assert!(ALL_CLASSES.len() <= MAX_CLASSES);

/// One held lock, or one being taken: its class, subclass, identity and where it was taken.
#[derive(Clone, Copy, Debug)]
pub struct Held {
    /// The lock's class.
    pub class: &'static LockClass,
    /// Nesting level within the class (`lock_nested`); 0 normally.
    pub subclass: u8,
    /// The lock's address (which lock of the class).
    pub addr: usize,
    /// Where it was taken.
    pub at: &'static Location<'static>,
    /// An interrupt-masking spin lock (set by the validator when it records the lock).
    pub irq_safe: bool,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// A lock taken against the order.
    Order,
    /// A sleeping lock taken while a spin lock is held.
    SleepingUnderSpin,
    /// Blocking (`thread_block`, a sleeping lock's wait, copyio…) with a spin lock held.
    BlockUnderSpin,
    /// Blocking with preemption disabled (no spin lock of ours held).
    BlockPreemptionDisabled,
    /// A sleeping lock taken (or blocking) in interrupt context.
    InInterrupt,
    /// A preemption-disabling spin lock taken in interrupt context (the thread the
    /// interrupt came in on may hold it: only interrupt-masking locks are safe there).
    SimpleLockInInterrupt,
    /// A preemption-disabling spin lock taken while holding an interrupt-masking one. The
    /// pair deadlocks across CPUs: one CPU holds the preemption-disabling lock with
    /// interrupts on, takes an interrupt whose handler wants the interrupt-masking lock,
    /// which another CPU holds while it waits for the first lock. Whatever nests inside an
    /// interrupt-masking lock must mask interrupts too.
    SimpleUnderIrqSafe,
}

/// A caught violation: the lock being taken (or the blocking site), the held lock it
/// conflicts with, and where the legal order between the two classes was first seen.
#[derive(Clone, Copy, Debug)]
pub struct Violation {
    /// What went wrong.
    pub kind: ViolationKind,
    /// The lock being taken (None when the violation is blocking itself).
    pub taking: Option<Held>,
    /// Where the blocking happened, for blocking violations.
    pub site: &'static Location<'static>,
    /// The held lock in conflict.
    pub held: Option<Held>,
    /// Where the edge `taking → held` (the order the table asks for) was first seen.
    pub seen: Option<(&'static Location<'static>, &'static Location<'static>)>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.taking, self.held) {
            (ViolationKind::Order, Some(t), Some(h)) => {
                write!(
                    f,
                    "lock order violation: took {} (at {}) while holding {} (taken at {}); the order says {} after {}",
                    t.class.name, t.at, h.class.name, h.at, h.class.name, t.class.name
                )?;
                if t.class.rank == h.class.rank {
                    write!(f, " (same class: use lock_nested with a higher subclass)")?;
                }
                if let Some((a, b)) = self.seen {
                    write!(
                        f,
                        "; that order was first seen taking {} at {a}, then {} at {b}",
                        t.class.name, h.class.name
                    )?;
                }
                Ok(())
            }
            (ViolationKind::SleepingUnderSpin, Some(t), Some(h)) => write!(
                f,
                "lock violation: took sleeping lock {} (at {}) while holding spin lock {} (taken at {})",
                t.class.name, t.at, h.class.name, h.at
            ),
            (ViolationKind::BlockUnderSpin, _, Some(h)) => write!(
                f,
                "lock violation: blocked (at {}) while holding spin lock {} (taken at {})",
                self.site, h.class.name, h.at
            ),
            (ViolationKind::BlockPreemptionDisabled, ..) => {
                write!(f, "lock violation: may block (at {}) with preemption disabled", self.site)
            }
            (ViolationKind::InInterrupt, Some(t), _) => {
                write!(
                    f,
                    "lock violation: took sleeping lock {} (at {}) in interrupt context",
                    t.class.name, t.at
                )
            }
            (ViolationKind::SimpleLockInInterrupt, Some(t), _) => write!(
                f,
                "lock violation: took preemption-disabling lock {} (at {}) in interrupt context; interrupt handlers take only interrupt-masking locks",
                t.class.name, t.at
            ),
            (ViolationKind::SimpleUnderIrqSafe, Some(t), Some(h)) => write!(
                f,
                "lock violation: took preemption-disabling lock {} (at {}) while holding interrupt-masking lock {} (taken at {}); a lock nested in an interrupt-masking lock must mask interrupts too",
                t.class.name, t.at, h.class.name, h.at
            ),
            (ViolationKind::InInterrupt, None, _) => {
                write!(f, "lock violation: blocked (at {}) in interrupt context", self.site)
            }
            (kind, ..) => write!(f, "lock violation {kind:?} at {}", self.site),
        }
    }
}

/// The locks held by a CPU (spin locks) or by a thread (sleeping locks), innermost last.
#[derive(Debug)]
pub struct HeldStack {
    entries: [Option<Held>; MAX_HELD],
    len: usize,
}

/// How deep the validator follows nesting; deeper acquisitions are checked but not recorded.
pub const MAX_HELD: usize = 24;

impl Default for HeldStack {
    fn default() -> Self {
        Self::new()
    }
}

impl HeldStack {
    /// Nothing held.
    pub const fn new() -> HeldStack {
        HeldStack { entries: [None; MAX_HELD], len: 0 }
    }

    /// Record `h` as held (dropped silently past [`MAX_HELD`]).
    pub fn push(&mut self, h: Held) {
        if let Some(slot) = self.entries.get_mut(self.len) {
            *slot = Some(h);
            self.len += 1;
        }
    }

    /// Forget the most recent entry for the lock at `addr` (guards may drop out of order).
    pub fn remove(&mut self, addr: usize) {
        let Some(i) = (0..self.len).rev().find(|&i| self.entries[i].is_some_and(|h| h.addr == addr)) else {
            return;
        };
        self.entries.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.entries[self.len] = None;
    }

    /// The held locks, outermost first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Held> {
        self.entries[..self.len].iter().flatten()
    }

    /// Is nothing held?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The innermost held lock.
    pub fn last(&self) -> Option<&Held> {
        self.iter().next_back()
    }
}

/// Is taking `new` while holding `held` against the order? The pure rule, host-tested.
pub fn against_order(held: &Held, new: &Held) -> bool {
    let (h, n) = (held.class.rank, new.class.rank);
    h > n || (h == n && held.subclass >= new.subclass)
}

/// The first held lock that taking `new` conflicts with, if any.
pub fn check_order<'a>(held: impl Iterator<Item = &'a Held>, new: &Held) -> Option<Held> {
    held.into_iter().find(|h| against_order(h, new)).copied()
}

#[cfg(feature = "lock-validator")]
pub use validator::*;

#[cfg(feature = "lock-validator")]
mod validator {
    use super::*;
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use crate::arm64::cpu::InterruptsMasked;
    use crate::arm64::cpu_data::{self, current_cpu};

    /// Set once the validator has panicked (the panic path takes locks of its own).
    static OFF: AtomicBool = AtomicBool::new(false);
    /// `expect_violation` is running: report instead of panicking.
    static REPORT: AtomicBool = AtomicBool::new(false);
    static REPORTED: spin::Mutex<Option<Violation>> = spin::Mutex::new(None);

    /// Edges seen: bit `b` of row `a` means a lock of rank `b` was taken holding rank `a`.
    static SEEN: [AtomicU64; MAX_CLASSES] = [const { AtomicU64::new(0) }; MAX_CLASSES];
    type Sites = (&'static Location<'static>, &'static Location<'static>);
    /// Where each edge was first seen.
    static FIRST_SEEN: spin::Mutex<[[Option<Sites>; MAX_CLASSES]; MAX_CLASSES]> =
        spin::Mutex::new([[None; MAX_CLASSES]; MAX_CLASSES]);

    fn active() -> bool {
        !OFF.load(Ordering::Relaxed)
    }

    fn violation(v: Violation) {
        if REPORT.load(Ordering::SeqCst) {
            let mut r = REPORTED.lock();
            if r.is_none() {
                *r = Some(v);
            }
            return;
        }
        OFF.store(true, Ordering::SeqCst);
        panic!("{v}");
    }

    fn learn(held: &Held, new: &Held) {
        let (a, b) = (held.class.rank as usize, new.class.rank as usize);
        let (Some(row), true) = (SEEN.get(a), b < MAX_CLASSES) else { return };
        if row.load(Ordering::Relaxed) & (1 << b) != 0 {
            return;
        }
        row.fetch_or(1 << b, Ordering::Relaxed);
        let mut sites = FIRST_SEEN.lock();
        sites[a][b].get_or_insert((held.at, new.at));
    }

    fn first_seen(a: &LockClass, b: &LockClass) -> Option<Sites> {
        let (a, b) = (a.rank as usize, b.rank as usize);
        if a >= MAX_CLASSES || b >= MAX_CLASSES || SEEN[a].load(Ordering::Relaxed) & (1 << b) == 0 {
            return None;
        }
        FIRST_SEEN.lock()[a][b]
    }

    fn check_against(held: &HeldStack, new: &Held, trylock: bool) -> Option<Violation> {
        for h in held.iter() {
            if !trylock && against_order(h, new) {
                let seen = first_seen(new.class, h.class);
                return Some(Violation {
                    kind: ViolationKind::Order,
                    taking: Some(*new),
                    site: new.at,
                    held: Some(*h),
                    seen,
                });
            }
            learn(h, new);
        }
        None
    }

    /// The current thread's sleeping locks, when there is a current thread and we are not
    /// in an interrupt handler (which is not the interrupted thread's context).
    ///
    /// Interrupts stay masked while the record is open: the preemption an interrupt may end
    /// in takes the scheduler's spin lock, whose check reads this same record, and an
    /// interrupt taken with the record open would spin on it forever.
    fn with_thread_held<R>(f: impl FnOnce(&mut HeldStack) -> R) -> Option<R> {
        if cpu_data::in_interrupt() {
            return None;
        }
        let _masked = InterruptsMasked::new();
        crate::kern::locks::with_current_thread_locks(|locks| f(&mut locks.held.lock()))
    }

    /// A spin lock is about to be taken on this CPU (interrupts masked or preemption off,
    /// so this CPU stays ours): check it against what this CPU and thread hold, record it.
    /// `irq_safe`: the lock masks interrupts (a [`SpinLock`]), so interrupt handlers may
    /// take it.
    ///
    /// [`SpinLock`]: crate::kern::locks::SpinLock
    pub fn spin_acquire(mut new: Held, trylock: bool, irq_safe: bool) {
        if !active() {
            return;
        }
        new.irq_safe = irq_safe;
        if !irq_safe && cpu_data::in_interrupt() {
            violation(Violation {
                kind: ViolationKind::SimpleLockInInterrupt,
                taking: Some(new),
                site: new.at,
                held: None,
                seen: None,
            });
        }
        let v = {
            let _masked = InterruptsMasked::new();
            let mut held = current_cpu().held_spin.lock();
            let under_irq_safe = if irq_safe { None } else { held.iter().find(|h| h.irq_safe).copied() };
            let v = under_irq_safe
                .map(|h| Violation {
                    kind: ViolationKind::SimpleUnderIrqSafe,
                    taking: Some(new),
                    site: new.at,
                    held: Some(h),
                    seen: None,
                })
                .or_else(|| check_against(&held, &new, trylock))
                .or_else(|| with_thread_held(|t| check_against(t, &new, trylock)).flatten());
            held.push(new);
            v
        };
        if let Some(v) = v {
            violation(v);
        }
    }

    /// The spin lock at `addr` was released on this CPU.
    pub fn spin_release(addr: usize) {
        if !active() {
            return;
        }
        let _masked = InterruptsMasked::new();
        current_cpu().held_spin.lock().remove(addr);
    }

    /// The innermost spin lock this CPU holds.
    fn spin_held() -> Option<Held> {
        let _masked = InterruptsMasked::new();
        current_cpu().held_spin.lock().last().copied()
    }

    /// A sleeping lock is about to be taken by the current thread.
    pub fn sleeping_acquire(new: Held, trylock: bool) {
        if !active() {
            return;
        }
        if cpu_data::in_interrupt() {
            return violation(Violation {
                kind: ViolationKind::InInterrupt,
                taking: Some(new),
                site: new.at,
                held: None,
                seen: None,
            });
        }
        if let Some(h) = spin_held() {
            violation(Violation {
                kind: ViolationKind::SleepingUnderSpin,
                taking: Some(new),
                site: new.at,
                held: Some(h),
                seen: None,
            });
        }
        let v = with_thread_held(|t| {
            let v = check_against(t, &new, trylock);
            t.push(new);
            v
        })
        .flatten();
        if let Some(v) = v {
            violation(v);
        }
    }

    /// The current thread released the sleeping lock at `addr`.
    pub fn sleeping_release(addr: usize) {
        if active() {
            with_thread_held(|t| t.remove(addr));
        }
    }

    /// The current thread is about to block (or do something that may): no spin lock may
    /// be held, and this must be thread context. With `preemption` also check that
    /// preemption is enabled (it is not while a wait is being set up, which is legitimate).
    /// Returns false if a violation was reported (a test provoked it): the caller then
    /// skips the blocking.
    pub fn check_block(site: &'static Location<'static>, preemption: bool) -> bool {
        if !active() {
            return true;
        }
        let base = Violation { kind: ViolationKind::InInterrupt, taking: None, site, held: None, seen: None };
        let v = if cpu_data::in_interrupt() {
            base
        } else if let Some(h) = spin_held() {
            Violation { kind: ViolationKind::BlockUnderSpin, held: Some(h), ..base }
        } else if preemption && current_cpu().preemption_disabled() {
            Violation { kind: ViolationKind::BlockPreemptionDisabled, ..base }
        } else {
            return true;
        };
        violation(v);
        false
    }

    /// A thread is ending: it must hold no sleeping lock (a lock's waiters reach its owner
    /// through the lock word, which is only sound while the owner lives).
    pub fn check_terminate() {
        if !active() {
            return;
        }
        if let Some(h) = with_thread_held(|t| t.last().copied()).flatten() {
            OFF.store(true, Ordering::SeqCst);
            panic!(
                "lock violation: thread terminated holding sleeping lock {} (taken at {})",
                h.class.name, h.at
            );
        }
    }

    /// Run `f` with violations reported instead of panicking; returns the first one (and
    /// clears it). For in-kernel tests of the validator.
    pub fn expect_violation(f: impl FnOnce()) -> Option<Violation> {
        REPORTED.lock().take();
        REPORT.store(true, Ordering::SeqCst);
        f();
        REPORT.store(false, Ordering::SeqCst);
        REPORTED.lock().take()
    }

    /// Is reporting mode on (a test provoking violations)?
    pub fn reporting() -> bool {
        REPORT.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn held(class: &'static LockClass, subclass: u8, addr: usize) -> Held {
        Held { class, subclass, addr, at: Location::caller(), irq_safe: false }
    }

    #[test]
    fn ranks_follow_the_table() {
        for (i, c) in ALL_CLASSES.iter().enumerate() {
            assert_eq!(c.rank as usize, i, "{}", c.name);
        }
        assert!(VM_MAP.rank < IPC_SPACE.rank, "mach_msg takes the space holding the map");
        assert!(IPC_SPACE.rank < IPC_PORT.rank);
        assert!(WAITQ.rank < SCHED.rank && SCHED.rank < KERNEL_HEAP.rank);
        assert!(KERNEL_HEAP.rank < CONSOLE_UART.rank);
    }

    #[test]
    fn order_is_checked_against_every_held_lock() {
        let space = held(&IPC_SPACE, 0, 1);
        let port = held(&IPC_PORT, 0, 2);
        let map = held(&VM_MAP, 0, 3);
        assert!(check_order([space].iter(), &port).is_none());
        assert!(check_order([map, space].iter(), &port).is_none());
        let bad = check_order([space, port].iter(), &map).expect("map after space is an inversion");
        assert_eq!(bad.addr, 1, "the first held lock in conflict is reported");
    }

    #[test]
    fn same_class_needs_a_higher_subclass() {
        let a = held(&IPC_PORT, 0, 1);
        assert!(against_order(&a, &held(&IPC_PORT, 0, 2)));
        assert!(!against_order(&a, &held(&IPC_PORT, 1, 2)));
        assert!(against_order(&held(&IPC_PORT, 1, 2), &held(&IPC_PORT, 1, 3)));
    }

    #[test]
    fn held_stack_removes_out_of_order() {
        let mut s = HeldStack::new();
        s.push(held(&ALLPROC, 0, 10));
        s.push(held(&PROC_STAT, 0, 20));
        s.push(held(&PROC_FD, 0, 30));
        s.remove(20);
        let addrs: std::vec::Vec<usize> = s.iter().map(|h| h.addr).collect();
        assert_eq!(addrs, [10, 30]);
        assert_eq!(s.last().map(|h| h.addr), Some(30));
        s.remove(99);
        assert_eq!(s.iter().count(), 2);
        for i in 0..MAX_HELD + 4 {
            s.push(held(&TEST_OUTER, 0, 100 + i));
        }
        assert_eq!(s.iter().count(), MAX_HELD, "recording stops at MAX_HELD, silently");
    }

    #[test]
    fn messages_name_both_sites_and_classes() {
        let port = held(&IPC_PORT, 0, 1);
        let map = held(&VM_MAP, 0, 2);
        let v = Violation {
            kind: ViolationKind::Order,
            taking: Some(map),
            site: map.at,
            held: Some(port),
            seen: None,
        };
        let msg = std::format!("{v}");
        assert!(msg.starts_with("lock order violation: took vm_map (at "), "{msg}");
        assert!(msg.contains("while holding ipc_port (taken at "), "{msg}");
        assert!(msg.ends_with("the order says ipc_port after vm_map"), "{msg}");
        assert!(msg.contains("lock_order.rs:"), "{msg}");
    }
}
