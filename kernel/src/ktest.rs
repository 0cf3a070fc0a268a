//! In-kernel tests (DESIGN §5 level 2): built with `--features ktest`, they run at EL1 on
//! the emulated hardware right after the Mach bootstrap — MMU, context switch, IRQs,
//! preemption, faults — and end QEMU through semihosting with the number of failures.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use osfmk::arm64::esr::Esr;
use osfmk::arm64::trapframe::TrapFrame;

/// Set while a test deliberately faults at EL1; the handler records and skips the access.
static EXPECTING_FAULT: AtomicBool = AtomicBool::new(false);
static FAULT_ESR: AtomicU64 = AtomicU64::new(0);
static FAULT_FAR: AtomicU64 = AtomicU64::new(0);

/// Called for every EL1 synchronous exception: true if a test asked for it (the faulting
/// instruction is then skipped), false if it is a real kernel bug.
pub fn expected_fault(frame: &mut TrapFrame, esr: Esr, far: u64) -> bool {
    if !EXPECTING_FAULT.swap(false, Ordering::SeqCst) {
        return false;
    }
    FAULT_ESR.store(esr.0, Ordering::SeqCst);
    FAULT_FAR.store(far, Ordering::SeqCst);
    frame.elr += 4;
    true
}

#[cfg(feature = "ktest")]
pub use tests::run;

#[cfg(feature = "ktest")]
mod waitq_tests;

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::kprintln;
    use osfmk::arm64::esr::ec;
    use osfmk::kern::clock::mach_absolute_time;
    use osfmk::kern::sched::SchedMode;
    use osfmk::kern::sched_prim::{self, BASEPRI_KERNEL};
    use osfmk::kern::task::TaskRef;
    use osfmk::kern::thread::{Thread, ThreadState, WaitResult};
    use osfmk::kern::thread_act::thread_terminate_self;

    type TestFn = fn(&TaskRef) -> Result<(), &'static str>;

    const TESTS: &[(&str, TestFn)] = &[
        ("exception decoding: brk at EL1", brk_decodes),
        ("writing kernel text faults", text_is_read_only),
        ("reading unmapped memory faults as a translation fault", unmapped_read_faults),
        ("scheduler time-slices one more CPU-bound thread than there are CPUs", time_slicing),
        ("a higher-priority thread preempts within a quantum", priority_preempts),
        ("sleeps end at their deadline, not before", sleep_deadlines),
        ("a wakeup between Wait::begin and block is not lost", super::waitq_tests::wakeup_before_block),
        ("a wait on two queues ends on either and leaves neither", super::waitq_tests::wait_on_two_queues),
        ("wakeup_one passes over waits that already ended", super::waitq_tests::wakeup_one_skips_ended_waits),
        ("every CPU the device tree lists is online", super::waitq_tests::every_cpu_online),
        (
            "idle CPUs take no clock interrupts: no tick, and deadlines on their own CPU's queue",
            super::waitq_tests::idle_cpus_take_no_clock_interrupts,
        ),
        (
            "a thread woken on a busy CPU runs on an idle one at once (reschedule SGI)",
            super::waitq_tests::wakeup_runs_on_an_idle_cpu,
        ),
        ("deadlines and aborts end waits", super::waitq_tests::deadlines_and_aborts),
        (
            "thread_stop keeps a thread off the CPU until thread_unstop",
            super::waitq_tests::stop_holds_a_thread_off_cpu,
        ),
        (
            "a port set's message passes over a receiver that just timed out",
            super::waitq_tests::pset_wakeup_passes_over_timed_out_receiver,
        ),
        ("suspend counts nest and stop a thread", suspend_nests),
        ("no suspension holds a thread of a killed task", killed_task_is_not_held),
        ("200 threads created and terminated leave no memory behind", thread_churn),
        ("frames return to the pool", frame_pool_round_trip),
        ("a task that exhausts memory gives every page back", vm_exhaustion),
        ("64 MiB allocated: only touched pages become resident", lazy_residency),
        ("user pmap: enter, extract, remove, next_mapped", user_pmap),
        ("with PAN, the kernel cannot touch user pages directly", pan_blocks_user_access),
        ("copyio with no user memory fails through the fixup table", copyio_without_user_memory),
        ("lock validator: an acquisition against the order is caught", crate::ktest_locks::order_inversion),
        (
            "lock validator: sleeping or blocking under a spin lock is caught",
            crate::ktest_locks::sleeping_under_spin,
        ),
        (
            "lock validator: a sleeping lock in interrupt context is caught",
            crate::ktest_locks::sleeping_in_interrupt,
        ),
        (
            "lock validator: a preemption-disabling lock under an interrupt-masking one is caught",
            crate::ktest_locks::simple_under_irq_safe,
        ),
        ("LckMtx: priority inheritance resolves an inversion", crate::ktest_locks::priority_inversion),
        (
            "LckRw: a reader waiting for the writer lends it its priority",
            crate::ktest_locks::priority_inversion_rw,
        ),
        (
            "LckRw: a waiting writer holds new readers off; upgrade and downgrade",
            crate::ktest_locks::rw_contention,
        ),
        (
            "LckMtx: a thread taking sleeping locks is preempted anywhere without a hang",
            crate::ktest_locks::sleeping_locks_preempted,
        ),
    ];

    /// Recurse with a kilobyte of stack per level until the stack runs out.
    #[inline(never)]
    #[allow(unconditional_recursion)]
    fn recurse(depth: u64) -> u64 {
        let mut pad = [0u8; 1024];
        pad[(depth % 1024) as usize] = depth as u8;
        let pad = core::hint::black_box(pad);
        recurse(depth + 1) + pad[0] as u64
    }

    extern "C" fn overflow_thread(_: u64) -> ! {
        sched_prim::thread_continue();
        kprintln!("ktest: overflowing this thread's kernel stack on purpose");
        let n = recurse(0);
        panic!("recursion returned {n}")
    }

    /// Run every test, print a summary and exit QEMU (status = failures). With
    /// `ktest=stack-overflow` on the command line, overflow a kernel stack instead: the
    /// run must end in the overflow panic (checked by scripts/systest.py).
    pub fn run(kernel_task: TaskRef, bootargs: &str) -> ! {
        if bootargs.split_whitespace().any(|w| w == "ktest=stack-overflow") {
            let t = Thread::create(kernel_task.clone(), BASEPRI_KERNEL, overflow_thread, 0).expect("thread");
            sched_prim::thread_setrun(t);
            loop {
                sched_prim::thread_block();
            }
        }
        let (mut passed, mut failed) = (0, 0);
        for (name, test) in TESTS {
            match test(&kernel_task) {
                Ok(()) => {
                    passed += 1;
                    kprintln!("ktest: {name} ... ok");
                }
                Err(why) => {
                    failed += 1;
                    kprintln!("ktest: {name} ... FAILED: {why}");
                }
            }
        }
        kprintln!("ktest: {passed} passed, {failed} failed");
        crate::drivers::semihosting::exit(failed)
    }

    fn expect_fault(access: impl FnOnce()) -> Option<(Esr, u64)> {
        EXPECTING_FAULT.store(true, Ordering::SeqCst);
        access();
        if EXPECTING_FAULT.swap(false, Ordering::SeqCst) {
            return None;
        }
        Some((Esr(FAULT_ESR.load(Ordering::SeqCst)), FAULT_FAR.load(Ordering::SeqCst)))
    }

    fn brk_decodes(_: &TaskRef) -> Result<(), &'static str> {
        // SAFETY: `brk` traps to our EL1 handler, which skips it because a fault is expected.
        let (esr, _) = expect_fault(|| unsafe { core::arch::asm!("brk #0x42") }).ok_or("no exception")?;
        if esr.ec() != ec::BRK64 || esr.iss() & 0xffff != 0x42 || esr.class_name() != "BRK instruction" {
            return Err("wrong syndrome");
        }
        Ok(())
    }

    fn text_is_read_only(_: &TaskRef) -> Result<(), &'static str> {
        let target = crate::memory::kernel_text_range().0 + 0x100;
        // SAFETY: the write must fault (text is mapped read-only) and is then skipped, so
        // nothing is modified; the volatile store is a single instruction.
        let (esr, far) = expect_fault(|| unsafe { (target as *mut u32).write_volatile(0xd503201f) })
            .ok_or("kernel text was writable")?;
        if esr.ec() != ec::DABT_CURRENT
            || !esr.is_write()
            || esr.fault_name() != "permission fault"
            || far != target
        {
            return Err("wrong syndrome");
        }
        Ok(())
    }

    fn unmapped_read_faults(_: &TaskRef) -> Result<(), &'static str> {
        // The top of the upper half below the image is never mapped.
        let target: u64 = 0xFFFF_F000_0000_0000;
        // SAFETY: the read faults and is skipped; no memory is accessed.
        let (esr, far) = expect_fault(|| unsafe {
            let _ = (target as *const u64).read_volatile();
        })
        .ok_or("unmapped address was readable")?;
        if esr.fault_name() != "translation fault" || far != target || esr.is_write() {
            return Err("wrong syndrome");
        }
        Ok(())
    }

    /// One counter per spinner: one more spinner than the kernel has CPU blocks at most.
    const MAX_SPINNERS: usize = osfmk::arm64::cpu_data::MAX_CPUS + 1;
    static SPIN_COUNTS: [AtomicU64; MAX_SPINNERS] = [const { AtomicU64::new(0) }; MAX_SPINNERS];
    static SPIN_STOP: AtomicBool = AtomicBool::new(false);

    extern "C" fn spinner(index: u64) -> ! {
        sched_prim::thread_continue();
        let counter = &SPIN_COUNTS[index as usize % MAX_SPINNERS];
        while !SPIN_STOP.load(Ordering::Relaxed) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        thread_terminate_self()
    }

    fn time_slicing(task: &TaskRef) -> Result<(), &'static str> {
        // One more thread at our priority than there are CPUs, none of which ever blocks. We
        // yield to them; the only way we get a CPU back is the timer preempting a spinner,
        // and the only way every spinner makes progress is round-robin among equals.
        SPIN_STOP.store(false, Ordering::Relaxed);
        for c in &SPIN_COUNTS {
            c.store(0, Ordering::Relaxed);
        }
        let cpus = osfmk::arm64::cpu_data::cpus_online() as u64;
        let n = (cpus as usize + 1).min(MAX_SPINNERS);
        let (free_before, _) = osfmk::vm::vm_page::vm_page_counts();
        let mut spinners = alloc::vec::Vec::new();
        for i in 0..n {
            spinners
                .push(Thread::create(task.clone(), BASEPRI_KERNEL, spinner, i as u64).ok_or("no memory")?);
        }
        let t0 = osfmk::kern::clock::mach_absolute_time();
        for t in &spinners {
            sched_prim::thread_setrun(t.clone());
        }
        let quantum = sched_prim::quantum_ticks();
        let start = osfmk::kern::clock::mach_absolute_time();
        let mut returns = 0u64;
        while osfmk::kern::clock::mach_absolute_time() < start + 40 * quantum {
            sched_prim::thread_block();
            returns += 1;
        }
        SPIN_STOP.store(true, Ordering::Relaxed);
        for t in &spinners {
            wait_terminated(t);
        }
        let elapsed = osfmk::kern::clock::mach_absolute_time() - t0;
        let counts: alloc::vec::Vec<u64> =
            SPIN_COUNTS[..n].iter().map(|c| c.load(Ordering::Relaxed)).collect();
        kprintln!(
            "ktest:   40 quanta on {cpus} CPU(s): spinner counts {counts:?}, test thread resumed {returns} times"
        );
        if counts.contains(&0) {
            return Err("a thread never ran");
        }
        if returns < 10 {
            return Err("the timer did not preempt the spinners");
        }
        // Each spinner ran for about cpus/n of the time, all of it in the kernel; together
        // no more than the CPUs had. Fairness is judged by that time, not by the counts: with
        // several CPUs the host may give their threads unequal shares of itself.
        let mut total = 0;
        let (mut lo, mut hi) = (u64::MAX, 0);
        for t in &spinners {
            let (user, system) = t.sched.times();
            if user != 0 || system < 10 * quantum {
                return Err("CPU time accounting is off");
            }
            total += system;
            (lo, hi) = (lo.min(system), hi.max(system));
        }
        if hi > lo * 2 {
            return Err("CPU shared unevenly between equal threads");
        }
        kprintln!("ktest:   spinners' time {total} in {elapsed} ticks on {cpus} CPU(s)");
        if total > cpus * elapsed {
            return Err("CPU time accounting is off: more time than the CPUs had");
        }
        drop(spinners);
        if !free_pages_come_back(free_before) {
            return Err("terminated threads leaked their stacks");
        }
        Ok(())
    }
    /// Have at least `before` pages come back? A thread is marked terminated just before its
    /// CPU switches away from it, and that CPU's next thread drops the last reference (which
    /// frees the stack): on another CPU that may come a moment after we see the state, so
    /// give it a few quanta.
    fn free_pages_come_back(before: u64) -> bool {
        let give_up = mach_absolute_time() + 5 * sched_prim::quantum_ticks();
        loop {
            let now = osfmk::vm::vm_page::vm_page_counts().0;
            if now >= before {
                return true;
            }
            if mach_absolute_time() > give_up {
                kprintln!("ktest:   free pages {before} before, {now} after");
                return false;
            }
            sched_prim::thread_sleep_until(sched_prim::deadline_after_ns(1_000_000));
        }
    }

    /// Free pages once they stop changing: threads of earlier tests may still be giving
    /// their stacks back on other CPUs (see `free_pages_come_back`).
    fn settled_free_pages() -> u64 {
        let mut before = osfmk::vm::vm_page::vm_page_counts().0;
        for _ in 0..50 {
            sched_prim::thread_sleep_until(sched_prim::deadline_after_ns(1_000_000));
            let now = osfmk::vm::vm_page::vm_page_counts().0;
            if now == before {
                break;
            }
            before = now;
        }
        before
    }

    fn wait_terminated(t: &osfmk::kern::thread::ThreadRef) {
        while t.state() != ThreadState::Terminated {
            sched_prim::thread_block();
        }
    }

    /// The sleeper's current deadline (0: none) and the spinner's turns past it.
    static SLEEPER_DEADLINE: AtomicU64 = AtomicU64::new(0);
    static TURNS_PAST_DEADLINE: AtomicU64 = AtomicU64::new(0);
    static LATE_SPINNER_TURNS: AtomicU64 = AtomicU64::new(0);

    /// A spinner that also counts its turns made after the sleeper's deadline: the sleeper's
    /// lateness measured in guest work, which a host that stalls the whole emulator does not
    /// inflate (the spinner stalls with it).
    extern "C" fn late_spinner(_: u64) -> ! {
        sched_prim::thread_continue();
        while !SPIN_STOP.load(Ordering::Relaxed) {
            let deadline = SLEEPER_DEADLINE.load(Ordering::Relaxed);
            if deadline != 0 && mach_absolute_time() > deadline {
                TURNS_PAST_DEADLINE.fetch_add(1, Ordering::Relaxed);
            }
            LATE_SPINNER_TURNS.fetch_add(1, Ordering::Relaxed);
        }
        thread_terminate_self()
    }

    fn priority_preempts(task: &TaskRef) -> Result<(), &'static str> {
        // A spinner at our priority takes the CPU; we sleep at a raised priority and must
        // get the CPU back as soon as our deadline passes, not at the spinner's quantum end.
        // The lateness is counted in the spinner's work, but a host that stalls only the
        // emulator thread that fires timers (a busy CI machine) still lets the spinner run
        // past a deadline now and then; a broken preemption is late in every measurement,
        // a noisy host not in three running, so a measurement that misses is tried again.
        let quantum = sched_prim::quantum_ticks();
        let mut why = "";
        for _ in 0..3 {
            let Some((median, worst)) = measure_wakeup_lateness(task, quantum)? else {
                // With a CPU to itself the spinner may never share ours; nothing to measure.
                kprintln!("ktest:   the spinner never ran beside the sleeper");
                return Ok(());
            };
            kprintln!(
                "ktest:   spinner work past the deadline: median {median}, worst {worst} ticks' worth; quantum {quantum}"
            );
            // A prompt wakeup leaves the spinner well under 1% of a quantum past the
            // deadline; with no preemption on wakeup (seen by breaking
            // `preempt_check_locked`) the median was about a quarter of a quantum, the rest
            // of the spinner's quantum.
            why = if median >= quantum / 10 {
                "the high-priority thread waited for the spinner's quantum"
            } else if worst >= 3 * quantum {
                "a wakeup came quanta late"
            } else {
                return Ok(());
            };
        }
        Err(why)
    }

    /// Eleven raised-priority sleeps of a third of a quantum beside a spinner: the median and
    /// worst spinner work past the deadline, in ticks' worth (None if the spinner never ran).
    fn measure_wakeup_lateness(task: &TaskRef, quantum: u64) -> Result<Option<(u64, u64)>, &'static str> {
        SPIN_STOP.store(false, Ordering::Relaxed);
        let spinner_thread =
            Thread::create(task.clone(), BASEPRI_KERNEL, late_spinner, 0).ok_or("no memory")?;
        sched_prim::thread_setrun(spinner_thread.clone());
        let me = sched_prim::current_thread();
        sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, BASEPRI_KERNEL + 10);
        let nap = quantum / 3;
        // Per sleep: the spinner's turns past the deadline, and its turns per tick before it
        // (the best of these is the spinner's speed when the host lets the guest run).
        let mut late_turns = [0u64; 11];
        let mut best_rate = 0f64;
        for l in late_turns.iter_mut() {
            TURNS_PAST_DEADLINE.store(0, Ordering::Relaxed);
            let before = LATE_SPINNER_TURNS.load(Ordering::Relaxed);
            let deadline = mach_absolute_time() + nap;
            SLEEPER_DEADLINE.store(deadline, Ordering::Relaxed);
            sched_prim::thread_sleep_until(deadline);
            SLEEPER_DEADLINE.store(0, Ordering::Relaxed);
            *l = TURNS_PAST_DEADLINE.load(Ordering::Relaxed);
            let on_time = LATE_SPINNER_TURNS.load(Ordering::Relaxed).saturating_sub(before + *l);
            best_rate = best_rate.max(on_time as f64 / nap as f64);
        }
        sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, BASEPRI_KERNEL);
        SPIN_STOP.store(true, Ordering::Relaxed);
        wait_terminated(&spinner_thread);
        if best_rate == 0.0 {
            return Ok(None);
        }
        late_turns.sort_unstable();
        let ticks = |turns: u64| (turns as f64 / best_rate) as u64;
        Ok(Some((ticks(late_turns[late_turns.len() / 2]), ticks(late_turns[late_turns.len() - 1]))))
    }

    fn sleep_deadlines(_: &TaskRef) -> Result<(), &'static str> {
        let quantum = sched_prim::quantum_ticks();
        for frac in [1, 2, 5, 20] {
            // Waking early or by anything but the timer is always wrong; waking late can be
            // a host that stalled the emulator, so lateness alone gets two more tries.
            let mut late = 0;
            loop {
                let deadline = mach_absolute_time() + quantum * frac / 4;
                let r = sched_prim::thread_sleep_until(deadline);
                let now = mach_absolute_time();
                if r != WaitResult::TimedOut {
                    return Err("sleep did not end by its deadline");
                }
                if now < deadline {
                    return Err("woke before the deadline");
                }
                if now - deadline <= quantum {
                    break;
                }
                late += 1;
                if late == 3 {
                    return Err("woke more than a quantum late");
                }
            }
        }
        Ok(())
    }

    static SUSPENDABLE_COUNT: AtomicU64 = AtomicU64::new(0);

    /// Counts, passing the user-return suspension checkpoint each time round.
    extern "C" fn suspendable(_: u64) -> ! {
        sched_prim::thread_continue();
        loop {
            SUSPENDABLE_COUNT.fetch_add(1, Ordering::Relaxed);
            sched_prim::thread_ast_user();
        }
    }

    fn progress_over(quanta: u64) -> u64 {
        let before = SUSPENDABLE_COUNT.load(Ordering::Relaxed);
        let until = mach_absolute_time() + quanta * sched_prim::quantum_ticks();
        while mach_absolute_time() < until {
            sched_prim::thread_block();
        }
        SUSPENDABLE_COUNT.load(Ordering::Relaxed) - before
    }

    fn suspend_nests(task: &TaskRef) -> Result<(), &'static str> {
        let t = Thread::create(task.clone(), BASEPRI_KERNEL, suspendable, 0).ok_or("no memory")?;
        sched_prim::thread_setrun(t.clone());
        if progress_over(3) == 0 {
            return Err("the thread never ran");
        }
        sched_prim::thread_suspend(&t);
        sched_prim::thread_suspend(&t);
        progress_over(1);
        if progress_over(3) != 0 {
            return Err("a suspended thread kept running");
        }
        sched_prim::thread_resume(&t).map_err(|_| "resume 1")?;
        if progress_over(3) != 0 || t.sched.suspend_count() != 1 {
            return Err("one resume undid two suspends");
        }
        sched_prim::thread_resume(&t).map_err(|_| "resume 2")?;
        if progress_over(3) == 0 {
            return Err("the resumed thread did not run");
        }
        if sched_prim::thread_resume(&t).is_ok() {
            return Err("resuming a running thread should fail");
        }
        // Task suspension stops it too.
        task.suspend();
        progress_over(1);
        if progress_over(3) != 0 {
            return Err("task suspension did not stop the thread");
        }
        task.resume().map_err(|_| "task resume")?;
        if progress_over(3) == 0 {
            return Err("task resume did not restart the thread");
        }
        sched_prim::thread_terminate(&t);
        wait_terminated(&t);
        Ok(())
    }

    /// Issue 11 item 7: a thread held by its own or its task's suspension must still reach
    /// the AST that ends it once its task is being killed — suspensions made before the kill
    /// or after it.
    fn killed_task_is_not_held(_: &TaskRef) -> Result<(), &'static str> {
        let task = osfmk::kern::task::Task::create().map_err(|_| "no task")?;
        let t = Thread::create(task.clone(), BASEPRI_KERNEL, suspendable, 0).ok_or("no memory")?;
        // A user task's threads time-share and would decay below this test's thread, which
        // polls at a fixed priority: keep it at ours, as the kernel task's are.
        sched_prim::thread_set_base_priority(&t, SchedMode::Fixed, BASEPRI_KERNEL);
        sched_prim::thread_setrun(t.clone());
        if progress_over(3) == 0 {
            return Err("the thread never ran");
        }
        sched_prim::thread_suspend(&t);
        task.suspend();
        progress_over(1);
        if progress_over(3) != 0 {
            return Err("a suspended thread kept running");
        }
        task.mark_killed();
        if progress_over(3) == 0 {
            return Err("a killed task's thread stayed suspended");
        }
        sched_prim::thread_suspend(&t);
        task.suspend();
        if progress_over(3) == 0 {
            return Err("a suspension made after the kill held the thread");
        }
        sched_prim::thread_terminate(&t);
        wait_terminated(&t);
        Ok(())
    }

    static CHURN_RUNS: AtomicU64 = AtomicU64::new(0);

    extern "C" fn churn(_: u64) -> ! {
        sched_prim::thread_continue();
        CHURN_RUNS.fetch_add(1, Ordering::Relaxed);
        thread_terminate_self()
    }

    fn thread_churn(task: &TaskRef) -> Result<(), &'static str> {
        let before = settled_free_pages();
        for _ in 0..200 {
            let t = Thread::create(task.clone(), BASEPRI_KERNEL, churn, 0).ok_or("no memory")?;
            sched_prim::thread_setrun(t.clone());
            wait_terminated(&t);
        }
        if CHURN_RUNS.load(Ordering::Relaxed) != 200 {
            return Err("not every thread ran");
        }
        if !free_pages_come_back(before) {
            return Err("thread stacks leaked");
        }
        Ok(())
    }

    fn vm_exhaustion(_: &TaskRef) -> Result<(), &'static str> {
        use mach::KernReturn;
        use mach::vm::{VM_FLAGS_ANYWHERE, VmProt};
        use osfmk::vm::{vm_fault::vm_fault, vm_page::vm_page_counts, vm_user::mach_vm_allocate};
        let before = settled_free_pages();
        let faulted = {
            let task = osfmk::kern::task::Task::create().map_err(|_| "task_create")?;
            let mut map = task.map.as_ref().ok_or("no map")?.write();
            let size = 64u64 << 30;
            let base = mach_vm_allocate(&mut map, 0, size, VM_FLAGS_ANYWHERE).map_err(|_| "allocate")?;
            let mut n = 0u64;
            loop {
                match vm_fault(&mut map, base + n * 4096, VmProt::WRITE) {
                    Ok(()) => n += 1,
                    Err(KernReturn::KERN_RESOURCE_SHORTAGE) => break,
                    Err(_) => return Err("unexpected fault error"),
                }
                if n * 4096 >= size {
                    return Err("memory never ran out");
                }
            }
            let (during, _) = vm_page_counts();
            if during > 16 {
                return Err("the pool was not exhausted");
            }
            drop(map);
            task.terminate();
            n
        };
        let came_back = free_pages_come_back(before);
        let (after, _) = vm_page_counts();
        kprintln!("ktest:   faulted {faulted} pages before running out; free pages {before} -> {after}");
        if !came_back {
            return Err("pages leaked after the task was destroyed");
        }
        Ok(())
    }

    fn lazy_residency(_: &TaskRef) -> Result<(), &'static str> {
        use mach::vm::{VM_FLAGS_ANYWHERE, VmProt};
        use osfmk::vm::{vm_fault::vm_fault, vm_user::mach_vm_allocate};
        let task = osfmk::kern::task::Task::create().map_err(|_| "task_create")?;
        let mut map = task.map.as_ref().ok_or("no map")?.write();
        let size = 64u64 << 20;
        let base = mach_vm_allocate(&mut map, 0, size, VM_FLAGS_ANYWHERE).map_err(|_| "allocate")?;
        if map.resident_pages() != 0 || map.virtual_size() < size {
            return Err("allocation made pages resident");
        }
        for page in (0..size / 4096).step_by(16) {
            vm_fault(&mut map, base + page * 4096, VmProt::WRITE).map_err(|_| "fault")?;
        }
        if map.resident_pages() != size / 4096 / 16 {
            return Err("resident pages differ from touched pages");
        }
        drop(map);
        task.terminate();
        Ok(())
    }

    fn frame_pool_round_trip(_: &TaskRef) -> Result<(), &'static str> {
        let (before, _) = osfmk::vm::vm_page::vm_page_counts();
        let pages: alloc::vec::Vec<u64> =
            (0..64).filter_map(|_| osfmk::vm::vm_page::vm_page_alloc()).collect();
        if pages.len() != 64 {
            return Err("allocation failed");
        }
        for p in pages {
            osfmk::vm::vm_page::vm_page_free(p);
        }
        let (after, _) = osfmk::vm::vm_page::vm_page_counts();
        if before != after {
            return Err("free count changed");
        }
        Ok(())
    }

    fn pan_blocks_user_access(_: &TaskRef) -> Result<(), &'static str> {
        use aarch64_cpu::registers::{ID_AA64MMFR1_EL1, Readable};
        use osfmk::arm64::pmap::{MemAttr, Pmap, Prot};
        let has_pan = ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) != 0;
        let mut pmap = Pmap::create().map_err(|_| "create")?;
        let pa = osfmk::vm::vm_page::vm_page_alloc().ok_or("alloc")?;
        let va: u64 = 0x1_0000_0000;
        pmap.enter(va, pa, Prot { write: true, execute: false, user: true }, MemAttr::Normal)
            .map_err(|_| "enter")?;
        // No switch may happen while this CPU runs on the test pmap.
        let daif = osfmk::arm64::cpu::interrupts_disable();
        pmap.activate();
        // SAFETY: the read either faults (and is skipped) or reads a mapped, zeroed page.
        let fault = expect_fault(|| unsafe {
            let _ = (va as *const u64).read_volatile();
        });
        sched_prim::current_thread().task.activate();
        osfmk::arm64::cpu::interrupts_restore(daif);
        drop(pmap);
        osfmk::vm::vm_page::vm_page_free(pa);
        match (has_pan, fault) {
            (true, Some((esr, far))) if esr.fault_name() == "permission fault" && far == va => Ok(()),
            (true, _) => Err("PAN did not stop a kernel read of user memory"),
            (false, None) => {
                kprintln!("ktest:   (this CPU has no PAN; the read went through, as expected)");
                Ok(())
            }
            (false, Some(_)) => Err("a user page was unreadable without PAN"),
        }
    }

    /// The kernel task has no user memory (TTBR0 holds an empty table), so every access of
    /// the copy routines faults, `vm_fault` finds no map, and the fixups end the copies:
    /// at once for a byte access, after going on byte by byte for a word access.
    fn copyio_without_user_memory(_: &TaskRef) -> Result<(), &'static str> {
        use osfmk::arm64::copyio::{UserAddr, copyin, copyinstr, copyout};
        let mut buf = [0u8; 100];
        for addr in [0x1_0000_0000u64, 0x1_0000_0003, 0x7FFF_FFFF_FF00] {
            if copyin(UserAddr(addr), &mut buf) != Err(0) {
                return Err("copyin from unmapped user memory did not fail at once");
            }
            if copyout(&buf, UserAddr(addr)) != Err(0) {
                return Err("copyout to unmapped user memory did not fail at once");
            }
            let mut s = alloc::vec::Vec::new();
            if copyinstr(UserAddr(addr), 64, &mut s) != Err(mach::KernReturn::KERN_INVALID_ADDRESS) {
                return Err("copyinstr from unmapped user memory did not fail");
            }
        }
        // Outside user space: refused before any access.
        let kernel = crate::memory::kernel_text_range().0;
        if copyin(UserAddr(kernel), &mut buf) != Err(0) || copyout(&buf, UserAddr(0x7FFF_FFFF_FFF0)) != Err(0)
        {
            return Err("a range outside user space was not refused");
        }
        if copyin(UserAddr(kernel), &mut []) != Ok(()) {
            return Err("an empty copy failed");
        }
        Ok(())
    }

    fn user_pmap(_: &TaskRef) -> Result<(), &'static str> {
        use osfmk::arm64::pmap::{MemAttr, Pmap, Prot};
        let (before, _) = osfmk::vm::vm_page::vm_page_counts();
        {
            let mut pmap = Pmap::create().map_err(|_| "create")?;
            let pa = osfmk::vm::vm_page::vm_page_alloc().ok_or("alloc")?;
            let va = 0x1_2345_6000;
            let prot = Prot { write: true, execute: false, user: true };
            pmap.enter(va, pa, prot, MemAttr::Normal).map_err(|_| "enter")?;
            if pmap.extract(va + 8) != Some((pa + 8, prot)) {
                return Err("extract disagrees");
            }
            if pmap.remove(va) != Some(pa) || pmap.extract(va).is_some() {
                return Err("remove failed");
            }
            // next_mapped finds pages in address order whatever order they were entered in
            // (a level-3 table's low-water hint only ever skips empty entries), and skips
            // empty tables and the empty ends of full ones.
            let table = 0x1_4000_0000; // a 2 MiB-aligned range: one level-3 table
            let order = [300u64, 511, 100, 7];
            for i in order {
                pmap.enter(table + i * 4096, pa, prot, MemAttr::Normal).map_err(|_| "enter")?;
            }
            let mut found = alloc::vec::Vec::new();
            let mut at = 0x1_0000_0000;
            while let Some((page, got, _)) = pmap.next_mapped(at, 0x2_0000_0000) {
                if got != pa {
                    return Err("next_mapped: wrong physical page");
                }
                found.push((page - table) / 4096);
                at = page + 4096;
            }
            if found != [7, 100, 300, 511] {
                return Err("next_mapped missed or misordered pages");
            }
            if pmap.next_mapped(table + 101 * 4096, table + 300 * 4096).is_some() {
                return Err("next_mapped found a page outside its range");
            }
            for i in order {
                pmap.remove(table + i * 4096);
            }
            if pmap.next_mapped(0x1_0000_0000, 0x2_0000_0000).is_some() {
                return Err("next_mapped after remove");
            }
            osfmk::vm::vm_page::vm_page_free(pa);
        }
        let (after, _) = osfmk::vm::vm_page::vm_page_counts();
        if before != after {
            return Err("tables leaked");
        }
        Ok(())
    }
}
