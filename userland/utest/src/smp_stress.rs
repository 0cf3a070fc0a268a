//! SMP stress tests (issue B2 part 5): many threads and tasks hitting the same kernel objects
//! at once — IPC on one port with a port dying under it, fork/exec/exit/wait from several
//! threads, signals to threads that spin in user space, copy-on-write faults on one page
//! from both sides of a fork, suspending and reading a spinning thread, and killing a task
//! whose threads all run.
//!
//! Each case runs in a child process under a watchdog, so a hang fails the case instead of
//! the run (the child is SIGKILLed), and each checks that the kernel's free pages and heap
//! come back once the child is reaped. Pass or fail never depends on timing: every count is
//! exact or bounded by a rule of the kernel (a queue limit), every wait that could hang is
//! bounded by the watchdog or by a generous count of polls.
//!
//! On one CPU the races come from preemption (the timer interrupt switches threads at any
//! instruction); on four they run truly at once. Each case says what the extra CPUs add.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use libsys::mach::{
    MsgBuf, mach_port_deallocate, mach_port_insert_right, mach_port_mod_refs, mach_reply_port,
    task_get_bootstrap_port, task_set_special_port, task_terminate, thread_get_state, thread_resume,
    thread_suspend,
};
use libsys::mach_traps::{mach_absolute_time, mach_task_self, mach_thread_self, swtch_pri};
use libsys::process::{Forked, execv, fork, waitpid};
use libsys::signal::{install, kill, signal_action};
use libsys::syscall::{__pthread_kill, exit_process, getppid, setpgid};
use libsys::thread::thread_register;
use libsys::{Args, Errno, println};
use mach::defs::special::TASK_BOOTSTRAP_PORT;
use mach::info::{ARM_THREAD_STATE64, ARM_THREAD_STATE64_COUNT, ARM_THREAD_STATE64_PC};
use mach::message::*;
use mach::port::{
    MACH_NOTIFY_SEND_ONCE, MACH_PORT_NULL, MACH_PORT_QLIMIT_DEFAULT, MACH_PORT_RIGHT_DEAD_NAME,
    MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_SEND,
};
use mach::{KernReturn, MachPortName};
use sys::signal::{SIG_DFL, SIGKILL, SIGTERM, SIGUSR1, SIGUSR2};
use sys::wait::{WNOHANG, wexitstatus, wifexited, wifsignaled, wtermsig};

use crate::ipc::{drop_port, new_port, simple};
use crate::ipc_fuzz::kernel_heap_used;
use crate::ipc_robust::queued;
use crate::kobject::child_task;
use crate::limits::free_pages;
use crate::robust::{killed_by, ms_since, threads_of, wait_gone};
use crate::sched::{SLOTS, sleep_ms, spawn};
use crate::vm::{allocate, deallocate};
use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("smp stress: sends, RPCs and receives on one port from threads of three tasks", ipc_traffic),
    ("smp stress: a port destroyed under blocked senders and receivers of two tasks", ipc_port_death),
    ("smp stress: RPC clients of a server task that is killed under them", ipc_server_death),
    ("smp stress: fork/exec/exit/wait storm from four threads", process_storm),
    ("smp stress: copy-on-write faults on the same pages from both sides of a fork", cow_both_sides),
    ("smp stress: thread_suspend / thread_get_state of a thread spinning in user space", suspend_spinner),
    ("smp stress: a task killed while all its threads run", kill_running_task),
    (
        "smp stress: SIGKILL, SIGTERM, SIGUSR2 and __pthread_kill to spinning processes and threads",
        signal_spinners,
    ),
];

// ---- The harness: a watched child, and the kernel's memory before and after ----------------

/// How long a case's child may run before it counts as hung. Each case takes up to a few
/// seconds under TCG (four on four CPUs of a loaded two-core host); this is far above that,
/// yet with the clean-up after it below the test driver's 30 s between two lines.
const WATCHDOG_MS: u64 = 20_000;
/// Kernel heap a case may leave behind: a long-lived table reaching a new capacity once.
const HEAP_SLACK: u64 = 4096;
/// Free pages a case may leave behind (our own stack and heap growing meanwhile). A leak in
/// any of the loops below would be at least one page per round, dozens in all.
const PAGE_SLACK: u32 = 16;

/// The kernel's memory at one moment.
#[derive(Clone, Copy)]
struct Memory {
    heap: u64,
    pages: u32,
}

fn memory() -> Result<Memory, &'static str> {
    Ok(Memory { heap: kernel_heap_used()?, pages: free_pages()? })
}

/// Wait (two seconds at most) for the kernel's memory to come back to `before`: a reaped
/// task's last threads and pages may be freed a moment after wait4 returns (on another CPU,
/// once it has switched away from them).
fn came_back(before: Memory) -> Result<(), &'static str> {
    let mut now = memory()?;
    for _ in 0..50 {
        if now.heap <= before.heap + HEAP_SLACK && now.pages + PAGE_SLACK >= before.pages {
            return Ok(());
        }
        sleep_ms(20);
        now = memory()?;
    }
    println!(
        "utest:   smp stress: kernel heap {} -> {} bytes, free pages {} -> {}",
        before.heap, now.heap, before.pages, now.pages
    );
    check(now.heap <= before.heap + HEAP_SLACK, "the kernel heap did not come back")?;
    check(now.pages + PAGE_SLACK >= before.pages, "the free pages did not come back")
}

/// Run `body` in a child process under the watchdog; it passes if the child exits with 0 and
/// the kernel's memory comes back. The child prints why it failed.
fn watched(body: fn() -> Result<(), &'static str>) -> Result<(), &'static str> {
    let before = memory()?;
    let start = mach_absolute_time();
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // Registered by the parent already (and inherited); a second time is refused.
            let _ = thread_register();
            // A group of its own, so that everything it starts can be killed at once.
            let _ = setpgid(0, 0);
            let status = match body() {
                Ok(()) => 0,
                Err(why) => {
                    println!("utest:   smp stress: {why}");
                    1
                }
            };
            exit_process(status)
        }
        Forked::Parent(pid) => pid,
    };
    let status = match wait_gone(pid, WATCHDOG_MS) {
        Ok(status) => status,
        Err(_) => {
            let _ = kill(-pid, SIGKILL);
            let _ = wait_gone(pid, 5000);
            reap_orphans();
            return Err("the case hung: its process was still running after 20 s");
        }
    };
    if status != 0 {
        // Whatever the failed case left running goes, and its orphans (ours now) are reaped.
        let _ = kill(-pid, SIGKILL);
        reap_orphans();
    }
    if wifsignaled(status) {
        println!("utest:   smp stress: the case's process died of signal {}", wtermsig(status));
        return Err("the case's process died of a signal");
    }
    check(wifexited(status) && wexitstatus(status) == 0, "the case failed (the reason is printed above)")?;
    println!("utest:   smp stress: the case's process ran for {} ms", ms_since(start));
    came_back(before)
}

/// Reap, for a second, the processes a failed case left behind (orphans come to us, init).
fn reap_orphans() {
    for _ in 0..100 {
        while matches!(waitpid(-1, WNOHANG), Ok((pid, _)) if pid > 0) {}
        sleep_ms(10);
    }
}

/// Fail unless `mr` is `want`, printing what came instead.
fn expect_mr(mr: MachMsgReturn, want: &[MachMsgReturn], why: &'static str) -> Result<(), &'static str> {
    if want.contains(&mr) {
        return Ok(());
    }
    println!("utest:   smp stress: mach_msg returned {mr:#x}");
    Err(why)
}

/// Poll `done` up to `polls` times, sleeping a millisecond between polls (so that on one CPU
/// the threads being waited for get to run).
fn wait_for(polls: u32, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..polls {
        if done() {
            return true;
        }
        sleep_ms(1);
    }
    done()
}

/// Wait until the task of `pid` has `n` threads.
fn wait_threads(task: MachPortName, n: usize) -> Result<(), &'static str> {
    let mut seen = 0;
    let ok = wait_for(5000, || {
        seen = threads_of(task).map_or(0, |(_, count)| count);
        seen >= n
    });
    check(ok, "the child's threads never all started")
}

// ---- (a) IPC: traffic on one port from threads of three tasks -------------------------------

/// Message ids: a request wanting a reply, a one-way message, the server's stop.
const RPC: i32 = 3100;
const ONE_WAY: i32 = 3101;
const QUIT: i32 = 3199;
/// Request and reply: header, then who sent it, its sequence number, and a token.
const MSG_SIZE: u32 = 40;
/// RPCs (and as many one-way messages) each client thread sends.
const ROUNDS: u32 = 150;
/// Client threads per task; senders are numbered task * CLIENTS + thread.
const CLIENTS: u32 = 3;
/// Tasks that are clients: this one and two children.
const CLIENT_TASKS: u32 = 3;
const SENDERS: usize = (CLIENTS * CLIENT_TASKS) as usize;
/// Server threads receiving on the port at once.
const SERVERS: usize = 3;

static SERVER_PORT: AtomicU32 = AtomicU32::new(0);
static RPCS_SERVED: AtomicU32 = AtomicU32::new(0);
static ONE_WAY_FROM: [AtomicU32; SENDERS] = [const { AtomicU32::new(0) }; SENDERS];
static FAILURES: AtomicU32 = AtomicU32::new(0);
/// The first failing mach_msg return of a thread (0: none).
static FIRST_ERROR: AtomicU32 = AtomicU32::new(0);

fn note_failure(mr: MachMsgReturn) {
    FAILURES.fetch_add(1, Ordering::SeqCst);
    let _ = FIRST_ERROR.compare_exchange(0, mr as u32, Ordering::SeqCst, Ordering::SeqCst);
}

fn token(who: u32, seq: u32) -> u64 {
    (u64::from(who) << 40) ^ (u64::from(seq) << 8) ^ 0x5a5a_5a5a
}

/// Receive on the server port until QUIT: answer RPCs through their send-once reply right
/// (echoing the body), count one-way messages by sender.
extern "C" fn server(_: u64) {
    let port = SERVER_PORT.load(Ordering::SeqCst);
    let mut buf = MsgBuf::new();
    loop {
        let mr = buf.receive(port, 0, 0);
        if mr != MACH_MSG_SUCCESS {
            note_failure(mr);
            return;
        }
        let h = buf.header();
        match h.msgh_id {
            QUIT => return,
            ONE_WAY => match ONE_WAY_FROM.get(buf.word(24) as usize) {
                Some(count) => {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                None => note_failure(MACH_MSG_SUCCESS),
            },
            RPC => {
                let bits = mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
                buf.set_header(&simple(h.msgh_remote_port, bits, MACH_PORT_NULL, RPC + 100));
                match buf.send(MSG_SIZE, 0, 0) {
                    MACH_MSG_SUCCESS => {
                        RPCS_SERVED.fetch_add(1, Ordering::SeqCst);
                    }
                    mr => note_failure(mr),
                }
            }
            _ => note_failure(MACH_MSG_SUCCESS),
        }
    }
}

/// `ROUNDS` RPCs and one-way messages to `server` (a send right) as sender `who`; each reply
/// must be this request's, whatever the other clients are doing.
fn client(server: MachPortName, who: u32) -> Result<(), MachMsgReturn> {
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let fill = |buf: &mut MsgBuf, bits: u32, reply: MachPortName, id: i32, seq: u32| {
        buf.set_header(&simple(server, bits, reply, id));
        buf.put(24, &who.to_le_bytes());
        buf.put(28, &seq.to_le_bytes());
        buf.put(32, &token(who, seq).to_le_bytes());
    };
    for seq in 0..ROUNDS {
        let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        fill(&mut buf, bits, reply, RPC, seq);
        let mr = buf.call(MSG_SIZE, reply);
        if mr != MACH_MSG_SUCCESS {
            return Err(mr);
        }
        let h = buf.header();
        let mine = h.msgh_id == RPC + 100
            && h.msgh_size == MSG_SIZE
            && buf.word(24) == who
            && buf.word(28) == seq
            && buf.long(32) == token(who, seq);
        if !mine {
            // Not an error code: a reply that is not this request's.
            return Err(MACH_MSG_SUCCESS);
        }
        fill(&mut buf, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), MACH_PORT_NULL, ONE_WAY, seq);
        let mr = buf.send(MSG_SIZE, 0, 0);
        if mr != MACH_MSG_SUCCESS {
            return Err(mr);
        }
    }
    drop_port(reply);
    Ok(())
}

/// A client thread: `arg` is its sender number; the port is `SERVER_PORT`.
extern "C" fn client_thread(who: u64) {
    if let Err(mr) = client(SERVER_PORT.load(Ordering::SeqCst), who as u32) {
        note_failure(mr);
    }
}

/// Client threads `first..first + CLIENTS` of this task (the last one is the calling thread)
/// talking to `server`; every spawned thread is joined.
fn run_clients(server: MachPortName, first: u32) -> Result<(), &'static str> {
    SERVER_PORT.store(server, Ordering::SeqCst);
    for t in 0..CLIENTS - 1 {
        spawn(t as usize, client_thread, u64::from(first + t))?;
    }
    let mine = client(server, first + CLIENTS - 1);
    for slot in &SLOTS[..CLIENTS as usize - 1] {
        slot.join();
    }
    if let Err(mr) = mine {
        note_failure(mr);
    }
    check(FAILURES.load(Ordering::SeqCst) == 0, "a client's mach_msg failed or got another's reply")
}

/// A client task: its server is the inherited bootstrap port.
fn client_task(index: u32) -> i32 {
    FAILURES.store(0, Ordering::SeqCst);
    let mut server = 0;
    if task_get_bootstrap_port(mach_task_self(), &mut server) != KernReturn::KERN_SUCCESS {
        return 2;
    }
    match run_clients(server, index * CLIENTS) {
        Ok(()) => 0,
        Err(_) => {
            println!(
                "utest:   smp stress: client task {index}: mach_msg {:#x}",
                FIRST_ERROR.load(Ordering::SeqCst)
            );
            1
        }
    }
}

/// A new port with a send right, made our task's bootstrap port: the tasks we fork inherit
/// it, which is how they find it.
fn bootstrap_port(me: MachPortName) -> Result<MachPortName, &'static str> {
    let port = new_port()?;
    check(
        mach_port_insert_right(me, port, port, MACH_MSG_TYPE_MAKE_SEND) == KernReturn::KERN_SUCCESS,
        "make a send right",
    )?;
    check(
        task_set_special_port(me, TASK_BOOTSTRAP_PORT, port) == KernReturn::KERN_SUCCESS,
        "set the bootstrap port",
    )?;
    Ok(port)
}

/// Threads of three tasks send RPCs and one-way messages to one port, on which three server
/// threads receive at once: every RPC gets its own reply, every one-way message arrives once.
/// With the queue limit at 5 and nine clients, senders block and are woken by receives all
/// the time. Four CPUs put senders, receivers and the hand-off between them on different
/// CPUs at once, on one port's lock and wait queue — and a client task's fork happens while
/// the servers run.
fn ipc_traffic(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        let me = mach_task_self();
        FAILURES.store(0, Ordering::SeqCst);
        FIRST_ERROR.store(0, Ordering::SeqCst);
        RPCS_SERVED.store(0, Ordering::SeqCst);
        for c in &ONE_WAY_FROM {
            c.store(0, Ordering::SeqCst);
        }
        let port = bootstrap_port(me)?;
        SERVER_PORT.store(port, Ordering::SeqCst);
        // The servers take slots 0..3 here; a client task (a fork, with none of our threads)
        // reuses them for its own clients.
        for i in 0..SERVERS {
            spawn(i, server, 0)?;
        }
        let mut children = [0i32; CLIENT_TASKS as usize - 1];
        for (i, child) in children.iter_mut().enumerate() {
            *child = match fork().map_err(|_| "fork")? {
                Forked::Child => exit_process(client_task(i as u32 + 1)),
                Forked::Parent(pid) => pid,
            };
        }
        // Our own senders 0, 1 and 2: a thread in slot 3 (the one the servers leave) and this
        // thread, twice.
        spawn(3, client_thread, 0)?;
        let mine = client(port, 1).and_then(|()| client(port, 2));
        SLOTS[3].join();
        let mut statuses_ok = true;
        for &pid in &children {
            let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
            statuses_ok &= wifexited(status) && wexitstatus(status) == 0;
        }
        // Stop the servers: each takes one QUIT, queued behind every message sent so far.
        let mut buf = MsgBuf::new();
        for _ in 0..SERVERS {
            buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), MACH_PORT_NULL, QUIT));
            expect_mr(buf.send(24, 0, 0), &[MACH_MSG_SUCCESS], "send QUIT")?;
        }
        for slot in &SLOTS[..SERVERS] {
            slot.join();
        }
        if let Err(mr) = mine {
            note_failure(mr);
        }
        if FAILURES.load(Ordering::SeqCst) != 0 {
            println!(
                "utest:   smp stress: first failing mach_msg: {:#x}",
                FIRST_ERROR.load(Ordering::SeqCst)
            );
        }
        check(FAILURES.load(Ordering::SeqCst) == 0, "a mach_msg in this task failed or got another's reply")?;
        check(statuses_ok, "a client task failed")?;
        let total = CLIENTS * CLIENT_TASKS * ROUNDS;
        check(RPCS_SERVED.load(Ordering::SeqCst) == total, "not every RPC was served exactly once")?;
        for c in &ONE_WAY_FROM {
            check(c.load(Ordering::SeqCst) == ROUNDS, "a sender's one-way messages were lost or doubled")?;
        }
        check(
            task_set_special_port(me, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL) == KernReturn::KERN_SUCCESS,
            "clear the bootstrap port",
        )?;
        let _ = mach_port_mod_refs(me, port, MACH_PORT_RIGHT_SEND, -1);
        drop_port(port);
        Ok(())
    })
}

// ---- (a) IPC: a port destroyed while it is in use -------------------------------------------

/// Messages a flooding sender sends at most (so that it ends even if the port never dies).
const FLOOD_CAP: u32 = 200;
/// Messages received before the port is destroyed.
const RECEIVED_BEFORE_DEATH: u32 = 60;
/// Senders in this task, and receivers.
const FLOODERS: usize = 2;
const RECEIVERS: usize = 2;

static DOOMED_PORT: AtomicU32 = AtomicU32::new(0);
static SENT_OK: [AtomicU32; FLOODERS + 1] = [const { AtomicU32::new(0) }; FLOODERS + 1];
static RECEIVED: AtomicU32 = AtomicU32::new(0);
static RECEIVED_FROM: [AtomicU32; FLOODERS + 1] = [const { AtomicU32::new(0) }; FLOODERS + 1];
/// How each flooder's and receiver's loop ended (its last mach_msg return, or 1: the cap).
static SEND_END: [AtomicU32; FLOODERS] = [const { AtomicU32::new(0) }; FLOODERS];
static RECEIVE_END: [AtomicU32; RECEIVERS] = [const { AtomicU32::new(0) }; RECEIVERS];

/// Send one-way messages to `dest` (a send right) as sender `who` until one fails or the
/// cap is reached; how many went, and how it ended (1 for the cap).
fn flood(dest: MachPortName, who: u32) -> (u32, MachMsgReturn) {
    let mut buf = MsgBuf::new();
    for sent in 0..FLOOD_CAP {
        buf.set_header(&simple(dest, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), MACH_PORT_NULL, ONE_WAY));
        buf.put(24, &who.to_le_bytes());
        let mr = buf.send(28, 0, 0);
        if mr != MACH_MSG_SUCCESS {
            return (sent, mr);
        }
        if let Some(c) = SENT_OK.get(who as usize) {
            c.store(sent + 1, Ordering::SeqCst);
        }
    }
    (FLOOD_CAP, 1)
}

extern "C" fn flooder(who: u64) {
    let (_, end) = flood(DOOMED_PORT.load(Ordering::SeqCst), who as u32);
    SEND_END[who as usize % FLOODERS].store(end as u32, Ordering::SeqCst);
}

extern "C" fn receiver(i: u64) {
    let port = DOOMED_PORT.load(Ordering::SeqCst);
    let mut buf = MsgBuf::new();
    loop {
        let mr = buf.receive(port, 0, 0);
        if mr != MACH_MSG_SUCCESS {
            RECEIVE_END[i as usize % RECEIVERS].store(mr as u32, Ordering::SeqCst);
            return;
        }
        if let Some(c) = RECEIVED_FROM.get(buf.word(24) as usize) {
            c.fetch_add(1, Ordering::SeqCst);
        }
        RECEIVED.fetch_add(1, Ordering::SeqCst);
    }
}

/// A sender task: floods the inherited bootstrap port as sender FLOODERS; exits with how many
/// of its messages went (at most FLOOD_CAP), or 255 if its sends ended with the wrong code.
fn flooding_task() -> i32 {
    let mut dest = 0;
    if task_get_bootstrap_port(mach_task_self(), &mut dest) != KernReturn::KERN_SUCCESS {
        return 254;
    }
    match flood(dest, FLOODERS as u32) {
        (sent, 1 | MACH_SEND_INVALID_DEST) => sent as i32,
        _ => 255,
    }
}

/// Rounds of `ipc_port_death`, and how many receiver threads each has.
const DEATH_RECEIVERS: [usize; 6] = [2, 0, 1, 2, 0, 1];
/// Rounds of `ipc_server_death`.
const DEATH_ROUNDS: u32 = 4;

/// Two sender threads here and one other task flood a port (blocking on its full queue) while
/// receiver threads (two, one or none) drain it; after some traffic — or, with no receivers,
/// once the queue is full — the receive right is destroyed. Every blocked or later call must
/// end with a clean error (senders MACH_SEND_INVALID_DEST, receivers MACH_RCV_PORT_DIED or
/// MACH_RCV_INVALID_NAME), nothing hangs, and the messages sent and not received are at most
/// what the queue held (its limit) — exactly that with no receivers. Four CPUs destroy the
/// port while senders and receivers are inside mach_msg on other CPUs, not merely asleep.
fn ipc_port_death(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        let (mut received, mut died) = (0, 0);
        for receivers in DEATH_RECEIVERS {
            let (r, d) = port_death_round(receivers)?;
            received += r;
            died += d;
        }
        println!("utest:   smp stress: {received} messages received, {died} died in their queues");
        Ok(())
    })
}

/// One round of `ipc_port_death` with `receivers` receiver threads: the messages received and
/// those that died in the queue.
fn port_death_round(receivers: usize) -> Result<(u32, u32), &'static str> {
    let me = mach_task_self();
    RECEIVED.store(0, Ordering::SeqCst);
    for c in SENT_OK.iter().chain(&RECEIVED_FROM).chain(&SEND_END).chain(&RECEIVE_END) {
        c.store(0, Ordering::SeqCst);
    }
    let port = bootstrap_port(me)?;
    DOOMED_PORT.store(port, Ordering::SeqCst);
    for i in 0..receivers {
        spawn(i, receiver, i as u64)?;
    }
    let sender_task = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(flooding_task()),
        Forked::Parent(pid) => pid,
    };
    for i in 0..FLOODERS {
        spawn(RECEIVERS + i, flooder, i as u64)?;
    }
    let busy = if receivers == 0 {
        wait_for(10_000, || queued(port).is_ok_and(|n| n == MACH_PORT_QLIMIT_DEFAULT))
    } else {
        wait_for(10_000, || RECEIVED.load(Ordering::SeqCst) >= RECEIVED_BEFORE_DEATH)
    };
    check(busy, "the port never got busy")?;
    if receivers == 0 {
        // Let every sender reach its blocked send.
        sleep_ms(2);
    }
    check(
        mach_port_mod_refs(me, port, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS,
        "destroy the receive right",
    )?;
    for slot in SLOTS[..receivers].iter().chain(&SLOTS[RECEIVERS..RECEIVERS + FLOODERS]) {
        slot.join();
    }
    let (_, status) = waitpid(sender_task, 0).map_err(|_| "wait4")?;
    check(wifexited(status) && wexitstatus(status) != 254, "the sender task found no port")?;
    check(wifexited(status) && wexitstatus(status) != 255, "the sender task's sends ended badly")?;
    SENT_OK[FLOODERS].store(wexitstatus(status) as u32, Ordering::SeqCst);
    for end in &SEND_END {
        expect_mr(
            end.load(Ordering::SeqCst) as MachMsgReturn,
            &[1, MACH_SEND_INVALID_DEST],
            "a sender's loop ended with the wrong code",
        )?;
    }
    for end in &RECEIVE_END[..receivers] {
        expect_mr(
            end.load(Ordering::SeqCst) as MachMsgReturn,
            &[MACH_RCV_PORT_DIED, MACH_RCV_INVALID_NAME],
            "a receiver's loop ended with the wrong code",
        )?;
    }
    // Every sender: what it sent is what arrived, plus what died in the queue.
    let mut died = 0;
    for (sent, got) in SENT_OK.iter().zip(&RECEIVED_FROM) {
        let (sent, got) = (sent.load(Ordering::SeqCst), got.load(Ordering::SeqCst));
        check(got <= sent, "a message arrived that was never sent, or twice")?;
        died += sent - got;
    }
    if died > MACH_PORT_QLIMIT_DEFAULT || (receivers == 0 && died != MACH_PORT_QLIMIT_DEFAULT) {
        println!("utest:   smp stress: {died} sent messages never received ({receivers} receivers)");
    }
    check(died <= MACH_PORT_QLIMIT_DEFAULT, "more messages vanished than the queue could hold")?;
    check(receivers > 0 || died == MACH_PORT_QLIMIT_DEFAULT, "a full queue did not hold its limit")?;
    // Our send right is a dead name now.
    check(
        mach_port_mod_refs(me, port, MACH_PORT_RIGHT_DEAD_NAME, -1) == KernReturn::KERN_SUCCESS,
        "our send right did not become a dead name",
    )?;
    check(
        task_set_special_port(me, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL) == KernReturn::KERN_SUCCESS,
        "clear the bootstrap port",
    )?;
    Ok((RECEIVED.load(Ordering::SeqCst), died))
}

// ---- (a) IPC: RPC clients whose server task dies -----------------------------------------

/// How long a client thread of `ipc_server_death` keeps calling at most (so that it ends even
/// if the server never dies). A time, not a count of calls: a count ran out before the kill
/// when the host stalled the thread that kills the server (seen: 3000 calls on one CPU).
const DEATH_RPC_LIMIT_MS: u64 = 4000;
/// Replies received before the server task is killed.
const REPLIES_BEFORE_KILL: u32 = 60;
/// Client threads of `ipc_server_death`.
const RPC_CLIENTS: usize = 3;
/// How a client's RPC loop ended: its time limit, or its first call that found the port dead.
const ENDED_AT_CAP: u32 = 1;
const ENDED_DEAD: u32 = 2;

static DYING_SERVER: AtomicU32 = AtomicU32::new(0);
static REPLIES: AtomicU32 = AtomicU32::new(0);
static SEND_ONCE_NOTES: AtomicU32 = AtomicU32::new(0);
static RPC_END: [AtomicU32; RPC_CLIENTS] = [const { AtomicU32::new(0) }; RPC_CLIENTS];

/// RPCs to the dying server until a call finds it dead. A call may end three ways: the reply;
/// a send-once notification on the reply port (the request died unanswered: queued when the
/// port went, or dequeued by a server thread that was killed); MACH_SEND_INVALID_DEST (the
/// port was dead already). Anything else ends the loop as a failure (the code is kept).
extern "C" fn dying_server_client(i: u64) {
    let server = DYING_SERVER.load(Ordering::SeqCst);
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let end = &RPC_END[i as usize % RPC_CLIENTS];
    let give_up = mach_absolute_time() + DEATH_RPC_LIMIT_MS * crate::sched::ticks_per_ms();
    for seq in 0u32.. {
        if mach_absolute_time() > give_up {
            break;
        }
        let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        buf.set_header(&simple(server, bits, reply, RPC));
        buf.put(24, &(i as u32).to_le_bytes());
        buf.put(28, &seq.to_le_bytes());
        buf.put(32, &token(i as u32, seq).to_le_bytes());
        match buf.call(MSG_SIZE, reply) {
            MACH_MSG_SUCCESS if buf.header().msgh_id == RPC + 100 => {
                if buf.long(32) != token(i as u32, seq) {
                    end.store(3, Ordering::SeqCst);
                    return;
                }
                REPLIES.fetch_add(1, Ordering::SeqCst);
            }
            MACH_MSG_SUCCESS if buf.header().msgh_id == MACH_NOTIFY_SEND_ONCE => {
                SEND_ONCE_NOTES.fetch_add(1, Ordering::SeqCst);
            }
            MACH_SEND_INVALID_DEST => {
                end.store(ENDED_DEAD, Ordering::SeqCst);
                return;
            }
            mr => {
                end.store(mr as u32, Ordering::SeqCst);
                return;
            }
        }
    }
    end.store(ENDED_AT_CAP, Ordering::SeqCst);
}

/// The server task: make a port, send its send right to the inherited bootstrap port (ours),
/// and serve it from two threads and this one until killed.
fn serving_task() -> i32 {
    let mut boot = 0;
    if task_get_bootstrap_port(mach_task_self(), &mut boot) != KernReturn::KERN_SUCCESS {
        return 2;
    }
    let Ok(port) = new_port() else { return 3 };
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND);
    buf.set_header(&simple(boot, bits, port, ONE_WAY));
    if buf.send(24, 0, 0) != MACH_MSG_SUCCESS {
        return 4;
    }
    SERVER_PORT.store(port, Ordering::SeqCst);
    for i in 0..2 {
        if spawn(i, server, 0).is_err() {
            return 5;
        }
    }
    server(0);
    6
}

/// Client threads here make RPCs to a server task (three threads receiving on its port);
/// after some replies the server task is SIGKILLed. Every call in flight must end — with its
/// reply, with a send-once notification on its reply port (its request died unanswered), or
/// with MACH_SEND_INVALID_DEST — and every client's calls must end with the port dead. Four
/// CPUs tear the server task down (its threads, its space, the port and the
/// requests queued on it) while the clients run on the other CPUs, inside mach_msg.
fn ipc_server_death(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        let me = mach_task_self();
        let (mut replies, mut notes) = (0, 0);
        for _ in 0..DEATH_ROUNDS {
            REPLIES.store(0, Ordering::SeqCst);
            SEND_ONCE_NOTES.store(0, Ordering::SeqCst);
            for end in &RPC_END {
                end.store(0, Ordering::SeqCst);
            }
            let rendezvous = new_port()?;
            check(
                mach_port_insert_right(me, rendezvous, rendezvous, MACH_MSG_TYPE_MAKE_SEND)
                    == KernReturn::KERN_SUCCESS,
                "make a send right",
            )?;
            check(
                task_set_special_port(me, TASK_BOOTSTRAP_PORT, rendezvous) == KernReturn::KERN_SUCCESS,
                "set the bootstrap port",
            )?;
            let server_task = match fork().map_err(|_| "fork")? {
                Forked::Child => exit_process(serving_task()),
                Forked::Parent(pid) => pid,
            };
            let mut buf = MsgBuf::new();
            expect_mr(
                buf.receive(rendezvous, MACH_RCV_TIMEOUT, 10_000),
                &[MACH_MSG_SUCCESS],
                "the server's port",
            )?;
            let server = buf.header().msgh_remote_port;
            DYING_SERVER.store(server, Ordering::SeqCst);
            for i in 0..RPC_CLIENTS {
                spawn(i, dying_server_client, i as u64)?;
            }
            let busy = wait_for(10_000, || REPLIES.load(Ordering::SeqCst) >= REPLIES_BEFORE_KILL);
            check(busy, "the server never answered")?;
            kill(server_task, SIGKILL).map_err(|_| "kill")?;
            let status = wait_gone(server_task, WATCHDOG_MS / 2)?;
            check(killed_by(status, SIGKILL), "the server task was not killed by SIGKILL")?;
            for slot in &SLOTS[..RPC_CLIENTS] {
                slot.join();
            }
            for end in &RPC_END {
                let how = end.load(Ordering::SeqCst);
                if how != ENDED_DEAD {
                    println!("utest:   smp stress: an RPC client's loop ended with {how:#x}");
                }
                check(how == ENDED_DEAD, "a client's calls did not end with the server's port dead")?;
            }
            // A client may see more than one notification: after its request dies with the
            // server thread that held it, its next request can still be queued on the port
            // (the dying task's space is not torn down yet) and die with the queue.
            let round_notes = SEND_ONCE_NOTES.load(Ordering::SeqCst);
            replies += REPLIES.load(Ordering::SeqCst);
            notes += round_notes;
            check(
                task_set_special_port(me, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL) == KernReturn::KERN_SUCCESS,
                "clear the bootstrap port",
            )?;
            let _ = mach_port_mod_refs(me, server, MACH_PORT_RIGHT_DEAD_NAME, -1);
            let _ = mach_port_mod_refs(me, rendezvous, MACH_PORT_RIGHT_SEND, -1);
            drop_port(rendezvous);
        }
        println!("utest:   smp stress: {replies} replies, {notes} requests died unanswered");
        Ok(())
    })
}

// ---- (b) fork / exec / exit / wait storm ----------------------------------------------------

/// Children each of the four threads forks.
const STORM_ROUNDS: u32 = 25;
const TRUE_PROGRAM: &[u8] = b"/bin/c/true-O2\0";

static STORM_FAILURES: AtomicU32 = AtomicU32::new(0);

/// Fork a child that does one of four things and check the status wait4 gives for it.
fn storm_one(thread: u32, round: u32) -> Result<(), &'static str> {
    let kind = (thread + round) % 4;
    let code = (thread * 16 + round) as i32 + 1;
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(match kind {
            0 => code,
            // The smallest program there is: exits with 0.
            1 => 100 + execv(TRUE_PROGRAM, &[TRUE_PROGRAM]).0,
            // Exits with its argc (4).
            2 => 100 + execv(b"/bin/utest\0", &[b"utest\0", b"--print-args\0", b"a\0", b"b\0"]).0,
            // The exec'd image runs alone, whatever threads the forking process had: 1.
            _ => 100 + execv(b"/bin/utest\0", &[b"utest\0", b"--count-threads\0"]).0,
        }),
        Forked::Parent(pid) => pid,
    };
    let (got, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
    check(got == pid, "wait4 returned another child")?;
    let want = [code, 0, 4, 1][kind as usize];
    if !(wifexited(status) && wexitstatus(status) == want) {
        println!("utest:   smp stress: child kind {kind}: status {status:#x}, wanted exit {want}");
        return Err("a child ended with the wrong status");
    }
    Ok(())
}

fn storm(thread: u32) -> Result<(), &'static str> {
    for round in 0..STORM_ROUNDS {
        storm_one(thread, round)?;
    }
    Ok(())
}

extern "C" fn storm_thread(thread: u64) {
    if storm(thread as u32).is_err() {
        STORM_FAILURES.fetch_add(1, Ordering::SeqCst);
    }
}

/// Four threads of one process each fork children in a loop that exit, exec the C `true`, or
/// exec utest (which reports its argc, or its thread count — one, though its parent had four
/// threads), and wait4 for their own; every child must end with its own status and none may
/// be left. Four CPUs put the forks, the execs' teardown of the old image, the exits and the
/// four wait4s of one parent on different CPUs at once (the process list, the parent's child
/// list, pid allocation).
fn process_storm(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        STORM_FAILURES.store(0, Ordering::SeqCst);
        for t in 0..3 {
            spawn(t, storm_thread, t as u64 + 1)?;
        }
        let mine = storm(0);
        for slot in &SLOTS[..3] {
            slot.join();
        }
        mine?;
        check(STORM_FAILURES.load(Ordering::SeqCst) == 0, "a thread's child ended with the wrong status")?;
        check(waitpid(-1, WNOHANG) == Err(Errno::ECHILD), "a child was left unreaped")
    })
}

// ---- (c) signals to spinning processes and threads ------------------------------------------

/// Set by the signal handlers (in whichever process runs them).
static SIGNALLED: AtomicU32 = AtomicU32::new(0);
/// The thread port name the handler ran on.
static HANDLED_ON: AtomicU32 = AtomicU32::new(0);
/// What a signalled child exits with once its handler has run.
const HANDLED: i32 = 42;
/// Rounds of each kind of signal.
const SIGNAL_ROUNDS: u32 = 5;

extern "C" fn on_signal(_: i32, _: u64, _: u64) {
    HANDLED_ON.store(mach_thread_self(), Ordering::SeqCst);
    SIGNALLED.store(1, Ordering::SeqCst);
}

/// Spin in user space (no system calls) until a handler has run.
fn spin_until_signalled() {
    while SIGNALLED.load(Ordering::Relaxed) == 0 {
        core::hint::spin_loop();
    }
}

extern "C" fn spin_thread(_: u64) {
    spin_until_signalled();
}

/// A child whose main thread and `threads` more spin until signalled, then exits HANDLED.
fn spinning_child(threads: usize) -> Result<i32, &'static str> {
    SIGNALLED.store(0, Ordering::SeqCst);
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            for i in 0..threads {
                if spawn(i, spin_thread, 0).is_err() {
                    exit_process(3);
                }
            }
            spin_until_signalled();
            exit_process(HANDLED)
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

/// Send `sig` to a child spinning with `threads` extra threads (once they all run) and check
/// how it ended: killed by SIGKILL or by SIGUSR2 (its default action), or its SIGTERM handler
/// ran and it exited.
fn signal_round(sig: u32, threads: usize) -> Result<(), &'static str> {
    let pid = spinning_child(threads)?;
    if threads > 0 {
        wait_threads(child_task(pid)?, threads + 1)?;
    }
    kill(pid, sig).map_err(|_| "kill")?;
    let status = wait_gone(pid, WATCHDOG_MS / 2)?;
    if sig == SIGTERM {
        check(wifexited(status) && wexitstatus(status) == HANDLED, "a spinning child's handler did not run")
    } else {
        if !killed_by(status, sig) {
            println!("utest:   smp stress: signal {sig} to a spinning child: status {status:#x}");
        }
        check(killed_by(status, sig), "a spinning child was not killed by the signal")
    }
}

/// `__pthread_kill(SIGUSR1)` aimed at one of three spinning threads: the handler must run on
/// that thread. Returns the exit status for the child.
fn pthread_kill_child() -> i32 {
    SIGNALLED.store(0, Ordering::SeqCst);
    HANDLED_ON.store(0, Ordering::SeqCst);
    for i in 0..3 {
        if spawn(i, spin_thread, 0).is_err() {
            return 3;
        }
    }
    // Threads are listed oldest first: [us, slot 0, slot 1, slot 2]; aim at slot 1's.
    let mut target = 0;
    let started = wait_for(5000, || match threads_of(mach_task_self()) {
        Ok((names, 4)) => {
            target = names[2];
            true
        }
        _ => false,
    });
    if !started {
        return 4;
    }
    if __pthread_kill(target as i32, SIGUSR1 as i32).is_err() {
        return 5;
    }
    spin_until_signalled();
    for slot in &SLOTS[..3] {
        slot.join();
    }
    if HANDLED_ON.load(Ordering::SeqCst) == target { 0 } else { 6 }
}

/// SIGKILL, a handled SIGTERM and a SIGUSR2 left to its default action (the end of the
/// process) to a child spinning in user space, alone and with three spinning threads; then __pthread_kill to one spinning thread of three. The signal must be
/// delivered though the targets never enter the kernel of their own accord, and wait4 must
/// report how each ended. Four CPUs have the target threads running on other CPUs when the
/// signal is posted, so delivery needs an interrupt (IPI) to reach them, and the SIGKILL of a
/// multi-threaded child stops threads that are running, not merely preempted.
fn signal_spinners(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        signal_action(SIGTERM, on_signal, 0, 0).map_err(|_| "sigaction SIGTERM")?;
        signal_action(SIGUSR1, on_signal, 0, 0).map_err(|_| "sigaction SIGUSR1")?;
        install(SIGUSR2, SIG_DFL, 0, 0).map_err(|_| "sigaction SIGUSR2")?;
        for _ in 0..SIGNAL_ROUNDS {
            for threads in [0, 3] {
                signal_round(SIGKILL, threads)?;
                signal_round(SIGTERM, threads)?;
                signal_round(SIGUSR2, threads)?;
            }
            let status = crate::proc::in_child(pthread_kill_child)?;
            if !(wifexited(status) && wexitstatus(status) == 0) {
                println!("utest:   smp stress: __pthread_kill child status {status:#x}");
                return Err("__pthread_kill's handler did not run on the thread aimed at");
            }
        }
        Ok(())
    })
}

// ---- (d) copy-on-write from both sides of a fork --------------------------------------------

const COW_PAGES: u64 = 8;
const WORDS: usize = (COW_PAGES * 4096 / 8) as usize;
const COW_ROUNDS: u32 = 16;

/// What nobody wrote, and what each writer writes to word `i`.
fn original(i: usize) -> u64 {
    0x0B0B_0000_0000_0000 | i as u64
}
fn parent_value(i: usize, round: u32) -> u64 {
    0x0FA0_0000_0000_0000 | (u64::from(round) << 32) | i as u64
}
fn child_value(i: usize, round: u32) -> u64 {
    0x0C00_0000_0000_0000 | (u64::from(round) << 32) | i as u64
}

/// Who writes word `i`: class 0 both sides (a parent thread and the child's main thread),
/// 1 a second parent thread, 2 the child's second thread, 3 nobody.
fn class(i: usize) -> usize {
    i % 4
}

static COW_BASE: AtomicU64 = AtomicU64::new(0);
static COW_GO: AtomicU32 = AtomicU32::new(0);
static COW_ROUND: AtomicU32 = AtomicU32::new(0);

fn words() -> *mut u64 {
    COW_BASE.load(Ordering::SeqCst) as *mut u64
}

/// Write the words of class `which` with `value`, page by page from the first.
fn write_class(which: usize, value: fn(usize, u32) -> u64) {
    let round = COW_ROUND.load(Ordering::SeqCst);
    for i in (0..WORDS).filter(|&i| class(i) == which) {
        // SAFETY: inside the COW_PAGES pages at COW_BASE, which this process owns.
        unsafe { words().add(i).write_volatile(value(i, round)) };
    }
}

/// A writer thread: waits for the go, then writes its class (its argument).
extern "C" fn parent_writer(which: u64) {
    while COW_GO.load(Ordering::Acquire) == 0 {
        core::hint::spin_loop();
    }
    write_class(which as usize, parent_value);
}

extern "C" fn child_writer(which: u64) {
    write_class(which as usize, child_value);
}

/// Does every word hold what this side (`parent` or not) must see?
fn verify(parent: bool) -> bool {
    let round = COW_ROUND.load(Ordering::SeqCst);
    (0..WORDS).all(|i| {
        let want = match (class(i), parent) {
            (0 | 1, true) => parent_value(i, round),
            (0 | 2, false) => child_value(i, round),
            _ => original(i),
        };
        // SAFETY: inside the pages at COW_BASE.
        unsafe { words().add(i).read_volatile() == want }
    })
}

/// Two parent threads wait, spinning, while the process forks; then they and two threads of
/// the child write the same pages at once — the same words, and others — each write the
/// first to a copy-on-write page on its side. Each side must see exactly its own writes and
/// the original elsewhere, before and after the other side is gone. On four CPUs two threads
/// of one task take the copy-on-write fault on one page at the same moment (one must copy,
/// the other find the copy), while the other task faults on the same shared page too.
fn cow_both_sides(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        let base = allocate(COW_PAGES * 4096)?;
        COW_BASE.store(base, Ordering::SeqCst);
        for round in 0..COW_ROUNDS {
            COW_ROUND.store(round, Ordering::SeqCst);
            COW_GO.store(0, Ordering::SeqCst);
            for i in 0..WORDS {
                // SAFETY: inside the pages just allocated.
                unsafe { words().add(i).write_volatile(original(i)) };
            }
            spawn(0, parent_writer, 0)?;
            spawn(1, parent_writer, 1)?;
            let pid = match fork().map_err(|_| "fork")? {
                Forked::Child => {
                    // Our copy of the parent's threads' slots is stale; slot 2 is free.
                    if spawn(2, child_writer, 2).is_err() {
                        exit_process(3);
                    }
                    write_class(0, child_value);
                    SLOTS[2].join();
                    exit_process(if verify(false) { 0 } else { 1 })
                }
                Forked::Parent(pid) => pid,
            };
            COW_GO.store(1, Ordering::Release);
            SLOTS[0].join();
            SLOTS[1].join();
            check(verify(true), "the parent saw a write that was not its own, or lost one")?;
            let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
            check(wifexited(status) && wexitstatus(status) != 3, "the child could not start its writer")?;
            check(status == 0, "the child saw a write that was not its own, or lost one")?;
            check(verify(true), "the parent's pages changed when the child went")?;
        }
        check(deallocate(base, COW_PAGES * 4096) == KernReturn::KERN_SUCCESS, "deallocate")
    })
}

// ---- (e) thread_suspend / thread_get_state of a spinning thread -----------------------------

// The spin loop whose pc and registers the test reads: x0 = &stop (u32), x1 = &count (u64);
// x2 counts the rounds and is stored to *count each round, until *stop is non-zero. A
// stopped thread's pc lies in [__utest_smp_spin_loop, __utest_smp_spin_end).
core::arch::global_asm!(
    r#"
.global __utest_smp_spin
.global __utest_smp_spin_loop
.global __utest_smp_spin_end
__utest_smp_spin:
    mov     x2, xzr
__utest_smp_spin_loop:
    add     x2, x2, #1
    str     x2, [x1]
    ldr     w3, [x0]
    cbz     w3, __utest_smp_spin_loop
__utest_smp_spin_end:
    ret
"#
);

unsafe extern "C" {
    fn __utest_smp_spin(stop: *const AtomicU32, count: *const AtomicU64);
    fn __utest_smp_spin_loop();
    fn __utest_smp_spin_end();
}

static SPIN_STOP: AtomicU32 = AtomicU32::new(0);
static SPIN_COUNT: AtomicU64 = AtomicU64::new(0);
/// Suspend / get_state / resume cycles on a thread of this task, and on another task's.
const SUSPEND_ROUNDS: u32 = 200;
const REMOTE_SUSPEND_ROUNDS: u32 = 60;

extern "C" fn spinner(_: u64) {
    // SAFETY: the loop reads and writes only the two statics, and returns once stop is set.
    unsafe { __utest_smp_spin(&SPIN_STOP, &SPIN_COUNT) };
}

/// The registers of a suspended thread that the checks need.
struct Regs {
    x: [u64; 3],
    pc: u64,
}

fn get_regs(thread: MachPortName) -> Result<Regs, &'static str> {
    let mut state = [0u32; ARM_THREAD_STATE64_COUNT as usize];
    let mut count = ARM_THREAD_STATE64_COUNT;
    let kr = thread_get_state(thread, ARM_THREAD_STATE64, &mut state, &mut count);
    check(kr == KernReturn::KERN_SUCCESS && count == ARM_THREAD_STATE64_COUNT, "thread_get_state")?;
    let long = |w: usize| u64::from(state[w]) | (u64::from(state[w + 1]) << 32);
    Ok(Regs { x: [long(0), long(2), long(4)], pc: long(ARM_THREAD_STATE64_PC) })
}

fn in_spin_loop(pc: u64) -> bool {
    (__utest_smp_spin_loop as *const () as u64..__utest_smp_spin_end as *const () as u64).contains(&pc)
}

/// Suspend `thread`, read its state, check it against the loop, resume it. If the thread is
/// `ours`, the count in memory must agree with x2 and must not move while it is suspended.
fn suspended_look(thread: MachPortName, ours: bool) -> Result<Regs, &'static str> {
    check(thread_suspend(thread) == KernReturn::KERN_SUCCESS, "thread_suspend")?;
    // thread_get_state returns once the thread is off its CPU: from here it cannot move.
    let regs = get_regs(thread)?;
    if !in_spin_loop(regs.pc) {
        println!("utest:   smp stress: suspended thread's pc {:#x} is outside its spin loop", regs.pc);
        return Err("a suspended spinning thread's pc is not in its loop");
    }
    // The loop's arguments (the same statics' addresses in a forked child).
    check(
        regs.x[0] == &SPIN_STOP as *const AtomicU32 as u64
            && regs.x[1] == &SPIN_COUNT as *const AtomicU64 as u64,
        "x0 and x1 are not the loop's arguments",
    )?;
    if ours {
        let count = &SPIN_COUNT;
        let seen = count.load(Ordering::SeqCst);
        // The store of the round may or may not have happened when it stopped.
        check(
            seen == regs.x[2] || seen + 1 == regs.x[2],
            "memory and x2 disagree: the saved state is not the thread's",
        )?;
        swtch_pri(0);
        sleep_ms(1);
        check(count.load(Ordering::SeqCst) == seen, "a suspended thread went on running")?;
    }
    check(thread_resume(thread) == KernReturn::KERN_SUCCESS, "thread_resume")?;
    Ok(regs)
}

/// A thread of ours spins in a loop of four instructions; it is suspended, its state read
/// (pc in the loop, x0/x1 its arguments, x2 the count it also stores), and resumed, again and
/// again, and must make progress after each resume; every tenth time it is suspended twice
/// and must stay stopped after one resume. Then the same through another task's port, on
/// that task's spinning main thread. On four CPUs the thread is running on another CPU when
/// thread_suspend is called, so the kernel must stop it there (and get_state must wait for
/// its context to be saved) instead of finding it already preempted.
fn suspend_spinner(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        SPIN_STOP.store(0, Ordering::SeqCst);
        SPIN_COUNT.store(0, Ordering::SeqCst);
        spawn(0, spinner, 0)?;
        check(wait_for(5000, || SPIN_COUNT.load(Ordering::SeqCst) > 0), "the spinner never started")?;
        let (names, n) = threads_of(mach_task_self())?;
        check(n == 2, "two threads: us and the spinner")?;
        let thread = names[1];
        for round in 0..SUSPEND_ROUNDS {
            let regs = suspended_look(thread, true)?;
            if round % 10 == 0 {
                check(thread_suspend(thread) == KernReturn::KERN_SUCCESS, "first suspend")?;
                check(thread_suspend(thread) == KernReturn::KERN_SUCCESS, "second suspend")?;
                let first = get_regs(thread)?;
                check(thread_resume(thread) == KernReturn::KERN_SUCCESS, "first resume")?;
                sleep_ms(1);
                let second = get_regs(thread)?;
                check(
                    first.x[2] == second.x[2] && first.pc == second.pc,
                    "it ran with a suspend count of one",
                )?;
                check(thread_resume(thread) == KernReturn::KERN_SUCCESS, "second resume")?;
            }
            let moved = wait_for(5000, || SPIN_COUNT.load(Ordering::SeqCst) > regs.x[2]);
            check(moved, "a resumed thread made no progress")?;
        }
        SPIN_STOP.store(1, Ordering::SeqCst);
        SLOTS[0].join();
        let _ = mach_port_deallocate(mach_task_self(), thread);

        // Another task's thread, through its task port.
        let pid = match fork().map_err(|_| "fork")? {
            Forked::Child => {
                SPIN_STOP.store(0, Ordering::SeqCst);
                // SAFETY: as in `spinner`; nobody sets stop here: the parent kills us.
                unsafe { __utest_smp_spin(&SPIN_STOP, &SPIN_COUNT) };
                exit_process(1)
            }
            Forked::Parent(pid) => pid,
        };
        let task = child_task(pid)?;
        let (names, n) = threads_of(task)?;
        check(n == 1, "the child has one thread")?;
        let thread = names[0];
        // Until it has reached the loop its pc is elsewhere (on its way back from fork).
        let mut reached = false;
        for _ in 0..2000 {
            check(thread_suspend(thread) == KernReturn::KERN_SUCCESS, "thread_suspend (child)")?;
            let regs = get_regs(thread)?;
            check(thread_resume(thread) == KernReturn::KERN_SUCCESS, "thread_resume (child)")?;
            if in_spin_loop(regs.pc) && regs.x[2] > 0 {
                reached = true;
                break;
            }
            sleep_ms(1);
        }
        check(reached, "the child never reached its spin loop")?;
        let mut last = 0;
        for _ in 0..REMOTE_SUSPEND_ROUNDS {
            let mut regs = suspended_look(thread, false)?;
            let mut tries = 0;
            while regs.x[2] <= last && tries < 1000 {
                sleep_ms(1);
                regs = suspended_look(thread, false)?;
                tries += 1;
            }
            check(regs.x[2] > last, "the child's thread made no progress after a resume")?;
            last = regs.x[2];
        }
        check(task_terminate(task) == KernReturn::KERN_SUCCESS, "task_terminate")?;
        let status = wait_gone(pid, WATCHDOG_MS / 2)?;
        check(killed_by(status, SIGKILL), "the terminated child was not reported as SIGKILLed")
    })
}

// ---- (f) a task killed while its threads run ------------------------------------------------

const KILL_ROUNDS: u32 = 12;

static RUN_FOREVER: AtomicU32 = AtomicU32::new(0);

/// Spin in user space.
extern "C" fn user_spinner(_: u64) {
    while RUN_FOREVER.load(Ordering::Relaxed) == 0 {
        core::hint::spin_loop();
    }
}

/// Make null system calls without end.
extern "C" fn syscall_spinner(_: u64) {
    while RUN_FOREVER.load(Ordering::Relaxed) == 0 {
        let _ = getppid();
    }
}

/// Send to and receive from a port of our own without end.
extern "C" fn ipc_spinner(_: u64) {
    let Ok(port) = new_port() else { return };
    let mut buf = MsgBuf::new();
    while RUN_FOREVER.load(Ordering::Relaxed) == 0 {
        buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), MACH_PORT_NULL, 7));
        let _ = buf.send(24, 0, 0);
        let _ = buf.receive(port, 0, 0);
    }
}

/// A child with four threads that all keep running — one in user space, one in and out of
/// the kernel with null calls, one in mach_msg, and the main thread spinning — is killed by
/// SIGKILL or task_terminate once all four run. The kill must complete, wait4 must report
/// SIGKILL, and (the harness checks) its memory must come back. On four CPUs the threads are
/// running on the other CPUs when the kill comes: termination must reach each of them there
/// and wait until each is off its CPU before the task is torn down.
fn kill_running_task(_: &Args) -> Result<(), &'static str> {
    watched(|| {
        for round in 0..KILL_ROUNDS {
            RUN_FOREVER.store(0, Ordering::SeqCst);
            let pid = match fork().map_err(|_| "fork")? {
                Forked::Child => {
                    let ok = spawn(0, user_spinner, 0).is_ok()
                        && spawn(1, syscall_spinner, 0).is_ok()
                        && spawn(2, ipc_spinner, 0).is_ok();
                    if !ok {
                        exit_process(3);
                    }
                    user_spinner(0);
                    exit_process(4)
                }
                Forked::Parent(pid) => pid,
            };
            let task = child_task(pid)?;
            wait_threads(task, 4)?;
            if round % 2 == 0 {
                kill(pid, SIGKILL).map_err(|_| "kill")?;
            } else {
                check(task_terminate(task) == KernReturn::KERN_SUCCESS, "task_terminate")?;
            }
            let status = wait_gone(pid, WATCHDOG_MS / 2)?;
            check(killed_by(status, SIGKILL), "the running task was not reported killed by SIGKILL")?;
            let _ = mach_port_deallocate(mach_task_self(), task);
        }
        Ok(())
    })
}
