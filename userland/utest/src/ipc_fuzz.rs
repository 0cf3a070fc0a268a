//! Garbage in, nothing lost (issue M1.5): thousands of `mach_msg` calls, MIG requests and
//! port traps with random names, dispositions, sizes, descriptors and pointers, in a child
//! process; every call must return (a code, not a crash or a hang), and once the child is gone
//! the kernel must hold exactly the memory it held before — kernel heap and free pages.

use libsys::Args;
use libsys::mach::*;
use libsys::mach_traps::{self as traps, mach_task_self, mach_thread_self};
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::exit_process;
use mach::message::*;
use mach::port::*;
use mach::traps::nr;

use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("garbage mach_msg / MIG / port traps leak nothing", garbage),
    ("ports: a task stops at its name limit, all tasks at the kernel's port budget", port_budget),
    ("four threads race over shared ports: sends, receives, replies, destruction", threads_race),
    ("tasks killed while blocked in mach_msg die cleanly and give everything back", killed_while_blocked),
];

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

pub(crate) fn kernel_heap_used() -> Result<u64, &'static str> {
    // A child that wait4 has reaped may still be finishing its last thread: its exit woke
    // us, and we may have preempted it right there (as in XNU, where the reaper frees a
    // thread later). Let the dying finish before counting.
    crate::sched::sleep_ms(20);
    let mut v = [0u8; 8];
    libsys::introspect::sysctlbyname_read(b"vm.kernel_heap_used", &mut v)
        .map_err(|_| "vm.kernel_heap_used")?;
    Ok(u64::from_le_bytes(v))
}

/// MIG ids safe to send to our own task, thread and host ports with any body (they read, or
/// they fail on garbage); the others go to a victim task's ports.
const SAFE_IDS: &[i32] =
    &[200, 216, 3200, 3201, 3207, 3217, 3402, 3405, 3409, 3603, 3612, 4804, 4816, 3499, 9999, 0];
/// Every id the kernel serves, and some it does not, for the victim.
const ALL_IDS: &[i32] = &[
    3200, 3201, 3204, 3206, 3207, 3208, 3212, 3213, 3214, 3215, 3217, 3218, 3226, 3227, 3402, 3405, 3407,
    3408, 3409, 3410, 3413, 3418, 3419, 3600, 3603, 3604, 3605, 3606, 3612, 3613, 3825, 4800, 4801, 4802,
    4804, 4806, 4811, 4816, 200, 216, 77, -1,
];

/// One round of the child: returns normally whatever the kernel answers.
fn fuzz(seed: u64, rounds: u32) {
    let me = mach_task_self();
    let thread = mach_thread_self();
    let host = mach_host_self();
    let mut rng = Rng(seed | 1);
    // Our ports, a victim child (its task and thread ports take the dangerous routines), and
    // a scratch page the random descriptors may point at.
    let mut ports = [0u32; 3];
    for p in ports.iter_mut() {
        let _ = mach_port_allocate(me, MACH_PORT_RIGHT_RECEIVE, p);
        let _ = mach_port_insert_right(me, *p, *p, MACH_MSG_TYPE_MAKE_SEND);
    }
    let victim = match fork() {
        Ok(Forked::Child) => loop {
            crate::sched::sleep_ms(1000);
        },
        Ok(Forked::Parent(pid)) => pid,
        Err(_) => return,
    };
    let mut vt = 0u32;
    // SAFETY: `vt` is a writable u32.
    unsafe { traps::task_for_pid(me, victim, core::ptr::from_mut(&mut vt).cast()) };
    let (mut vthreads, mut n) = (0u64, 0u32);
    let _ = task_threads(vt, &mut vthreads, &mut n);
    // SAFETY: the kernel mapped `n` names there (or nothing, and we read our fallback).
    let vthread = if n > 0 { unsafe { *(vthreads as *const u32) } } else { vt };
    let mut scratch = 0u64;
    let _ = mach_vm_allocate(me, &mut scratch, 8192, 1);
    let names = |rng: &mut Rng, ports: &[u32; 3]| -> u32 {
        let random = rng.next() as u32;
        rng.pick(&[ports[0], ports[1], ports[2], me, thread, host, vt, 0, MACH_PORT_DEAD, random, 0x103])
    };
    let pointers = [scratch, scratch + 4090, 0, UNMAPPED_ADDRESS, KERNEL_ADDRESS, u64::MAX - 3];
    let mut buf = MsgBuf::new();
    for _ in 0..rounds {
        for b in buf.0.iter_mut() {
            *b = rng.next() as u8;
        }
        match rng.below(5) {
            0 | 1 => {
                // A random message; to a kernel port, a MIG id chosen by how safe it is.
                let dest = names(&mut rng, &ports);
                let id = if dest == vt || dest == vthread {
                    rng.pick(ALL_IDS)
                } else if dest == me || dest == thread || dest == host {
                    rng.pick(SAFE_IDS)
                } else {
                    rng.next() as i32
                };
                let remote = rng.pick(&[17, 18, 19, 20, 21, 16, 0, 31, 19]);
                let local = rng.pick(&[0, 0, 21, 20, 17, 18, 16, 5]);
                let complex = if rng.below(2) == 0 { MACH_MSGH_BITS_COMPLEX } else { 0 };
                let bits = mach_msgh_bits(remote, local) | complex;
                buf.set_header(&simple_header(dest, bits, names(&mut rng, &ports), id));
                let count = rng.below(4) as u32;
                buf.put(24, &count.to_le_bytes());
                let mut at = 28;
                for _ in 0..count {
                    let disposition = rng.pick(&[16, 17, 18, 19, 20, 21, 0, 99]);
                    let mut d = [0u8; 16];
                    let len = match rng.below(4) {
                        0 => {
                            d[..12].copy_from_slice(&port_descriptor(names(&mut rng, &ports), disposition));
                            12
                        }
                        1 => {
                            let (addr, size, copy) =
                                (rng.pick(&pointers), rng.below(9000) as u32, rng.below(3) as u32);
                            d = ool_descriptor(addr, size, false, copy);
                            16
                        }
                        2 => {
                            d = ool_ports_descriptor(
                                rng.pick(&pointers),
                                rng.below(8) as u32,
                                false,
                                disposition,
                            );
                            16
                        }
                        _ => {
                            for b in d.iter_mut() {
                                *b = rng.next() as u8;
                            }
                            16
                        }
                    };
                    let d = &d[..len];
                    if at + d.len() <= 512 {
                        buf.put(at, d);
                        at += d.len();
                    }
                }
                let size = {
                    let any = rng.below(513) as u32;
                    rng.pick(&[0, 20, 24, 26, 28, 36, 40, 52, 64, 128, any, at as u32])
                };
                let option = rng.pick(&[0, 0, MACH_RCV_MSG | MACH_RCV_TIMEOUT]);
                let rcv = names(&mut rng, &ports);
                // SAFETY: the buffer holds 512 bytes; timeouts are 0, so nothing blocks long.
                let _ = unsafe {
                    mach_msg(buf.ptr(), MACH_SEND_MSG | MACH_SEND_TIMEOUT | option, size, 512, rcv, 0, 0)
                };
            }
            2 => {
                // Port traps with garbage names, rights, deltas, dispositions and pointers.
                let (a, b) = (names(&mut rng, &ports), names(&mut rng, &ports));
                let target = rng.pick(&[me, me, vt, thread, 0, 0x7777]);
                let p = rng.pick(&pointers);
                let v = rng.next() % 40;
                // The raw trap, so that whole registers (not just typed values) reach the kernel.
                let trap = |nr: u32, args: &[u64]| {
                    // SAFETY: pointers are ours, or ones the kernel must reject.
                    let _ = unsafe { traps::mach_trap(nr, libsys::pad_args::<8>(args)) };
                };
                let (t, a, b) = (u64::from(target), u64::from(a), u64::from(b));
                match rng.below(12) {
                    0 => trap(nr::_kernelrpc_mach_port_allocate_trap, &[t, v % 6, p]),
                    1 => trap(
                        nr::_kernelrpc_mach_port_mod_refs_trap,
                        &[t, a, v % 7, rng.pick(&[0, 1, u64::MAX, 2, 0x10000])],
                    ),
                    2 => trap(nr::_kernelrpc_mach_port_type_trap, &[t, a, p]),
                    3 => trap(nr::_kernelrpc_mach_port_insert_right_trap, &[t, rng.next() & 0xffff03, b, v]),
                    4 => trap(
                        nr::_kernelrpc_mach_port_request_notification_trap,
                        &[t, a, 64 + v % 10, v & 1, b, 16 + v % 6, p],
                    ),
                    5 => trap(nr::_kernelrpc_mach_port_move_member_trap, &[t, a, b]),
                    6 => trap(nr::_kernelrpc_mach_port_insert_member_trap, &[t, a, b]),
                    7 => trap(nr::_kernelrpc_mach_port_extract_member_trap, &[t, a, b]),
                    8 => trap(nr::semaphore_signal_trap, &[a]),
                    9 => trap(nr::semaphore_timedwait_trap, &[a, 0, v]),
                    10 => trap(nr::semaphore_signal_thread_trap, &[a, b]),
                    _ => trap(nr::task_for_pid, &[t, rng.below(5), p]),
                }
            }
            3 => {
                // A well-formed message between our own ports carrying rights and memory:
                // delivered, or (queue full) handed back to us.
                let bits =
                    mach_msgh_bits(rng.pick(&[19, 20, 21]), rng.pick(&[0, 21, 20])) | MACH_MSGH_BITS_COMPLEX;
                let (dest, reply) = (rng.pick(&ports), rng.pick(&ports));
                buf.set_header(&simple_header(dest, bits, reply, 7));
                let count = rng.below(4) as u32;
                buf.put(24, &count.to_le_bytes());
                let mut at = 28;
                for _ in 0..count {
                    if rng.below(2) == 0 {
                        buf.put(at, &port_descriptor(rng.pick(&ports), rng.pick(&[16, 19, 20, 21])));
                        at += 12;
                    } else {
                        buf.put(
                            at,
                            &ool_descriptor(scratch, rng.below(4096) as u32, false, rng.below(2) as u32),
                        );
                        at += 16;
                    }
                }
                let _ = buf.send(at as u32, MACH_SEND_TIMEOUT, 0);
            }
            _ => {
                // Drain whatever arrived, taking the rights and memory it carried.
                for &p in &ports {
                    while buf.receive(p, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS {}
                }
            }
        }
        // Keep our three ports alive (garbage may have destroyed one).
        for p in ports.iter_mut() {
            let mut ty = 0;
            if mach_port_type(me, *p, &mut ty) != mach::KernReturn::KERN_SUCCESS
                || ty & MACH_PORT_TYPE_RECEIVE == 0
            {
                let _ = mach_port_allocate(me, MACH_PORT_RIGHT_RECEIVE, p);
            }
        }
    }
    let _ = libsys::signal::kill(victim, sys::signal::SIGKILL);
    let _ = waitpid(victim, 0);
}

/// Bytes of kernel heap growth not counted as a leak (see `garbage`).
pub(crate) const HEAP_SLACK: u64 = 256;

fn run_child(seed: u64, rounds: u32) -> Result<(), &'static str> {
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            fuzz(seed, rounds);
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    let (_, status) = waitpid(pid, 0).map_err(|_| "waitpid")?;
    check(status == 0, "the fuzzing child survived and exited normally")
}

/// How many names our own space holds.
fn name_count() -> Result<u32, &'static str> {
    let (mut names, mut n, mut types, mut tn) = (0u64, 0u32, 0u64, 0u32);
    let me = mach_task_self();
    check(
        mach_port_names(me, &mut names, &mut n, &mut types, &mut tn) == mach::KernReturn::KERN_SUCCESS,
        "names",
    )?;
    let _ = mach_vm_deallocate(me, names, 4 * u64::from(n));
    let _ = mach_vm_deallocate(me, types, 4 * u64::from(tn));
    Ok(n)
}

/// Messages that cannot be sent — bad destinations, sizes, dispositions, descriptors,
/// pointers — must each fail and take nothing: our own name count stays put.
fn failing_sends_take_nothing(seed: u64, rounds: u32) -> Result<(), &'static str> {
    let mut rng = Rng(seed | 1);
    let mut port = 0;
    let _ = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &mut port);
    let before = name_count()?;
    let mut buf = MsgBuf::new();
    for _ in 0..rounds {
        for b in buf.0.iter_mut() {
            *b = rng.next() as u8;
        }
        // A destination that is no send right of ours, rights from our port in the body.
        // Generations are 3 mod 4, so a low byte of 1 is never a live name.
        let stranger = (rng.next() as u32 & !0xff) | 0x01;
        let dest = rng.pick(&[0, MACH_PORT_DEAD, stranger, port]);
        let remote = if dest == port { rng.pick(&[17, 18, 19, 16, 0]) } else { rng.pick(&[17, 19, 20, 21]) };
        let bits = mach_msgh_bits(remote, rng.pick(&[0, 20, 21])) | MACH_MSGH_BITS_COMPLEX;
        buf.set_header(&simple_header(dest, bits, rng.pick(&[0, port, 0x5501]), 1));
        buf.put(24, &1u32.to_le_bytes());
        buf.put(28, &port_descriptor(rng.pick(&[port, 0x4401]), rng.pick(&[16, 19, 20, 21, 99])));
        let size = rng.pick(&[20, 24, 40, 26, 40]);
        let mr = buf.send(size, MACH_SEND_TIMEOUT, 0);
        check(mr != MACH_MSG_SUCCESS, "a send that could not succeed did")?;
    }
    check(name_count()? == before, "a failed send left a name behind or took one")?;
    let _ = mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
    Ok(())
}

fn garbage(_: &Args) -> Result<(), &'static str> {
    failing_sends_take_nothing(7, 2000)?;
    // Two warm-up children: first-time growth (tables that reach a new capacity once) is
    // not a leak. After that, each child must leave the kernel exactly as it found it.
    run_child(1, 1500)?;
    run_child(2, 1500)?;
    let (heap, pages) = (kernel_heap_used()?, crate::limits::free_pages()?);
    for seed in 3..7 {
        run_child(seed * 0x9e37_79b9, 1500)?;
    }
    let (heap_after, pages_after) = (kernel_heap_used()?, crate::limits::free_pages()?);
    libsys::println!(
        "utest: garbage: kernel heap {heap} -> {heap_after} bytes, free pages {pages} -> {pages_after}"
    );
    // 6000 rounds send hundreds of messages and take thousands of rights: a leak of one small
    // object per message would show as kilobytes. The allowance covers the allocator's own
    // bookkeeping (a long-lived table that reaches a new capacity once shows as tens of bytes,
    // and stays there: measured over 17 children, the heap plateaus).
    check(heap_after <= heap + HEAP_SLACK, "the kernel heap grew: something leaked")?;
    check(pages_after + 4 >= pages, "free pages shrank: something leaked")
}

/// Children allocating ports until the kernel says no: each task stops at its own name limit
/// (`KERN_NO_SPACE`), and together they stop at the kernel's port budget
/// (`KERN_RESOURCE_SHORTAGE`) — never at an exhausted kernel heap.
fn port_budget(_: &Args) -> Result<(), &'static str> {
    use libsys::syscall::{mmap, munmap};
    use sys::mman::{MAP_ANON, MAP_SHARED, PROT_READ, PROT_WRITE};
    const CHILDREN: usize = 4;
    // One shared page: child i writes (count, error) at words 2i, 2i+1 when it is done.
    // SAFETY: an anonymous shared mapping; no pointers passed in.
    let page =
        unsafe { mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_ANON | MAP_SHARED, -1, 0) }.map_err(|_| "mmap")?;
    let slot = |i: usize| (page + 8 * i as u64) as *mut u32;
    let mut pids = [0i32; CHILDREN];
    for (i, pid) in pids.iter_mut().enumerate() {
        *pid = match fork().map_err(|_| "fork")? {
            Forked::Child => {
                let me = mach_task_self();
                let mut count = 0u32;
                let error = loop {
                    let mut name = 0;
                    let kr = mach_port_allocate(me, MACH_PORT_RIGHT_RECEIVE, &mut name);
                    if kr != mach::KernReturn::KERN_SUCCESS {
                        break kr.0 as u32;
                    }
                    count += 1;
                };
                // SAFETY: our two words of the shared page.
                unsafe {
                    slot(2 * i).write_volatile(count);
                    slot(2 * i + 1).write_volatile(error);
                }
                loop {
                    crate::sched::sleep_ms(1000);
                }
            }
            Forked::Parent(pid) => pid,
        };
        // Let each child fill up before the next starts.
        let mut tries = 0;
        // SAFETY: the shared page.
        while unsafe { slot(2 * i + 1).read_volatile() } == 0 && tries < 20_000 {
            crate::sched::sleep_ms(1);
            tries += 1;
        }
    }
    // SAFETY: the shared page; the children are done writing.
    let results: [(u32, u32); CHILDREN] =
        core::array::from_fn(|i| unsafe { (slot(2 * i).read_volatile(), slot(2 * i + 1).read_volatile()) });
    for pid in pids {
        let _ = libsys::signal::kill(pid, sys::signal::SIGKILL);
        let _ = waitpid(pid, 0);
    }
    // SAFETY: our mapping.
    let _ = unsafe { munmap(page, 4096) };
    let no_space = mach::KernReturn::KERN_NO_SPACE.0 as u32;
    let shortage = mach::KernReturn::KERN_RESOURCE_SHORTAGE.0 as u32;
    // The first child fills its own space; later ones run into the kernel's budget (the last
    // ones may get no port at all).
    check(results[0].0 > 0 && results[0].1 == no_space, "the first child stopped at its name limit")?;
    check(results.iter().all(|&(_, e)| e == no_space || e == shortage), "each stopped cleanly")?;
    check(results.iter().any(|&(_, e)| e == shortage), "the kernel's budget was reached")?;
    // All given back: we can allocate again.
    let mut name = 0;
    check(
        mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &mut name)
            == mach::KernReturn::KERN_SUCCESS,
        "allocate after",
    )?;
    let _ = mach_port_mod_refs(mach_task_self(), name, MACH_PORT_RIGHT_RECEIVE, -1);
    Ok(())
}

/// Ports the stress threads share (re-made when one is destroyed).
static STRESS_PORTS: [core::sync::atomic::AtomicU32; 4] =
    [const { core::sync::atomic::AtomicU32::new(0) }; 4];
static STRESS_DONE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// One stress thread: random sends (with and without timeouts), receives, port-set
/// moves, destruction and re-creation of the shared ports, semaphore-free — all racing the
/// other threads through preemption.
extern "C" fn stress_thread(seed: u64) {
    use core::sync::atomic::Ordering;
    let me = mach_task_self();
    let mut rng = Rng(seed | 1);
    let mut buf = MsgBuf::new();
    let reply = mach_reply_port();
    for _ in 0..1500 {
        let i = rng.below(4) as usize;
        let port = STRESS_PORTS[i].load(Ordering::Acquire);
        match rng.below(6) {
            0 | 1 => {
                let bits =
                    mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, rng.pick(&[0, MACH_MSG_TYPE_MAKE_SEND_ONCE]));
                buf.set_header(&simple_header(port, bits, reply, 1));
                let opt = rng.pick(&[MACH_SEND_TIMEOUT, MACH_SEND_TIMEOUT | MACH_RCV_MSG | MACH_RCV_TIMEOUT]);
                // SAFETY: a 512-byte buffer.
                let _ = unsafe {
                    mach_msg(buf.ptr(), MACH_SEND_MSG | opt, 64, 512, reply, rng.below(3) as u32, 0)
                };
            }
            2 | 3 => {
                let _ = buf.receive(port, MACH_RCV_TIMEOUT, rng.below(3) as u32);
                let h = buf.header();
                if h.msgh_remote_port != 0 {
                    // Answer (or drop) the send-once reply right it carried.
                    let bits = mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
                    buf.set_header(&simple_header(h.msgh_remote_port, bits, 0, 2));
                    let _ = buf.send(24, MACH_SEND_TIMEOUT, 0);
                }
            }
            4 => {
                // Destroy a shared port and put a fresh one in its place.
                let mut fresh = 0;
                if mach_port_allocate(me, MACH_PORT_RIGHT_RECEIVE, &mut fresh)
                    == mach::KernReturn::KERN_SUCCESS
                {
                    let old = STRESS_PORTS[i].swap(fresh, Ordering::AcqRel);
                    let _ = mach_port_mod_refs(me, old, MACH_PORT_RIGHT_RECEIVE, -1);
                }
            }
            _ => {
                // Drain our reply port.
                while buf.receive(reply, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS {}
            }
        }
    }
    let _ = mach_port_mod_refs(me, reply, MACH_PORT_RIGHT_RECEIVE, -1);
    STRESS_DONE.fetch_add(1, Ordering::AcqRel);
}

/// Four threads of one task hammer four shared ports at once — sending, receiving, replying,
/// destroying and re-creating them — with preemption in between; all must finish (no
/// deadlock, no lost wakeup) and the task must stay sound.
fn threads_race(_: &Args) -> Result<(), &'static str> {
    use core::sync::atomic::Ordering;
    let me = mach_task_self();
    for p in &STRESS_PORTS {
        let mut name = 0;
        check(
            mach_port_allocate(me, MACH_PORT_RIGHT_RECEIVE, &mut name) == mach::KernReturn::KERN_SUCCESS,
            "port",
        )?;
        p.store(name, Ordering::Release);
    }
    STRESS_DONE.store(0, Ordering::Release);
    for i in 0..4 {
        crate::sched::spawn(i, stress_thread, 0x51_0000 + i as u64)?;
    }
    for i in 0..4 {
        crate::sched::SLOTS[i].join();
    }
    check(STRESS_DONE.load(Ordering::Acquire) == 4, "every thread finished")?;
    for p in &STRESS_PORTS {
        let _ = mach_port_mod_refs(me, p.load(Ordering::Acquire), MACH_PORT_RIGHT_RECEIVE, -1);
    }
    // Only dead names from the race may be left (send rights whose ports were destroyed).
    Ok(())
}

/// Children blocked in `mach_msg` (sending to a full queue, or receiving) are killed: they
/// die cleanly, their rights and queued messages go, and the kernel heap comes back.
fn killed_while_blocked(_: &Args) -> Result<(), &'static str> {
    use mach::defs::special::TASK_BOOTSTRAP_PORT;
    let me = mach_task_self();
    let heap = kernel_heap_used()?;
    let mut port = 0;
    check(
        mach_port_allocate(me, MACH_PORT_RIGHT_RECEIVE, &mut port) == mach::KernReturn::KERN_SUCCESS,
        "port",
    )?;
    check(
        mach_port_insert_right(me, port, port, MACH_MSG_TYPE_MAKE_SEND) == mach::KernReturn::KERN_SUCCESS,
        "send",
    )?;
    let mut old = 0;
    let _ = task_get_special_port(me, TASK_BOOTSTRAP_PORT, &mut old);
    check(
        task_set_special_port(me, TASK_BOOTSTRAP_PORT, port) == mach::KernReturn::KERN_SUCCESS,
        "share it",
    )?;
    let mut pids = [0i32; 4];
    for (i, pid) in pids.iter_mut().enumerate() {
        *pid = match fork().map_err(|_| "fork")? {
            Forked::Child => {
                let mut p = 0;
                let _ = task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &mut p);
                let mut buf = MsgBuf::new();
                if i % 2 == 0 {
                    // Send until the queue is full and block there, carrying a reply right.
                    let reply = mach_reply_port();
                    loop {
                        let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
                        buf.set_header(&simple_header(p, bits, reply, 5));
                        let _ = buf.send(128, 0, 0);
                    }
                } else {
                    // Block receiving on a port of our own.
                    let mine = mach_reply_port();
                    loop {
                        let _ = buf.receive(mine, 0, 0);
                    }
                }
            }
            Forked::Parent(pid) => pid,
        };
    }
    crate::sched::sleep_ms(50);
    for pid in pids {
        let _ = libsys::signal::kill(pid, sys::signal::SIGKILL);
    }
    for pid in pids {
        let (_, status) = waitpid(pid, 0).map_err(|_| "waitpid")?;
        check(status & 0x7f == sys::signal::SIGKILL as i32, "killed")?;
    }
    // Drain what they queued: every reply right in there now names a dead port.
    let mut buf = MsgBuf::new();
    let mut drained = 0;
    while buf.receive(port, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS {
        check(buf.header().msgh_remote_port == MACH_PORT_DEAD, "the reply port died with its task")?;
        drained += 1;
    }
    check(drained >= MACH_PORT_QLIMIT_DEFAULT, "the queue had filled")?;
    let _ = task_set_special_port(me, TASK_BOOTSTRAP_PORT, old);
    let _ = mach_port_mod_refs(me, port, MACH_PORT_RIGHT_SEND, -1);
    let _ = mach_port_mod_refs(me, port, MACH_PORT_RIGHT_RECEIVE, -1);
    if old != 0 {
        let _ = mach_port_deallocate(me, old);
    }
    check(kernel_heap_used()? <= heap + HEAP_SLACK, "the kernel heap came back")
}
