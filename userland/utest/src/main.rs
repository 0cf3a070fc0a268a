//! `/bin/utest`: user-space system tests (DESIGN §5 level 3). Each case calls the kernel from
//! EL0 — BSD calls, Mach traps, the platform call — including deliberately bad input, which
//! must come back as an error code with the process (and the kernel) still running.
//! Prints one line per case and `utest: N passed, M failed`; exits with M.
#![no_std]
#![no_main]

use libsys::mach_traps::{
    mach_absolute_time, mach_absolute_time_trap, mach_reply_port, mach_task_self, mach_thread_self,
    mach_timebase_info_trap, timebase_info,
};
use libsys::platform::{thread_get_tsd_base, thread_set_tsd_base, tpidrro};
use libsys::syscall::{self, getegid, geteuid, getgid, getpid, getppid, getuid, write, write_bytes};
use libsys::{Args, Errno, entry, println};
use mach::KernReturn;
use mach::port::{MACH_PORT_NULL, mach_port_valid};

mod copyio;
mod cwd;
mod devfs;
mod exec;
mod fifo;
mod fileio;
mod fileports;
mod files;
mod groups;
mod introspect;
mod ipc;
mod ipc_fuzz;
mod ipc_robust;
mod kobject;
mod limits;
mod mapped_files;
mod mount;
mod names;
mod pipes;
mod poll;
mod ports;
mod proc;
mod processor;
mod robust;
mod sched;
mod sema;
mod setid;
mod smp_stress;
mod smp_tlb;
mod spawn;
mod truncate;
mod vm;

type Case = fn(&Args) -> Result<(), &'static str>;

fn check(cond: bool, why: &'static str) -> Result<(), &'static str> {
    if cond { Ok(()) } else { Err(why) }
}

/// An address in the kernel's half: never valid from user space.
pub(crate) const KERNEL_ADDRESS: u64 = 0xFFFF_FF80_4020_0000;
/// An address in the user range that nothing maps.
pub(crate) const UNMAPPED_ADDRESS: u64 = 0x0000_5000_0000_0000;
/// XNU's `enosys` slot 8 (old creat): ENOSYS without SIGSYS.
const SYS_OLD_CREAT: u32 = 8;

fn identity(_: &Args) -> Result<(), &'static str> {
    {
        check(getpid() == Ok(1), "getpid != 1")?;
        check(getppid() == Ok(0), "getppid != 0")?;
        check(getuid() == Ok(0) && geteuid() == Ok(0), "uid != 0")?;
        check(getgid() == Ok(0) && getegid() == Ok(0), "gid != 0")
    }
}

fn write_good(_: &Args) -> Result<(), &'static str> {
    check(write_bytes(1, b"utest: (a write to stdout)\n") == Ok(27), "short or failed write")
}

fn write_unmapped_efault(_: &Args) -> Result<(), &'static str> {
    // SAFETY: the kernel must reject the bad pointer, not touch it.
    check(unsafe { write(1, UNMAPPED_ADDRESS, 16) } == Err(Errno::EFAULT), "expected EFAULT")
}

fn write_null_efault(_: &Args) -> Result<(), &'static str> {
    // SAFETY: as above; NULL lies in the unmapped low 4 GiB.
    check(unsafe { write(1, 0, 16) } == Err(Errno::EFAULT), "expected EFAULT")
}

fn write_kernel_address_efault(_: &Args) -> Result<(), &'static str> {
    // SAFETY: as above.
    check(unsafe { write(1, KERNEL_ADDRESS, 16) } == Err(Errno::EFAULT), "expected EFAULT")
}

fn write_huge_length_is_short(args: &Args) -> Result<(), &'static str> {
    // The initial stack ends just past the last apple string (padded to 16 bytes); the page
    // above it is unmapped. Writing "forever" from the last byte must stop there.
    let end = args.strings_end();
    check(end != 0, "no apple strings")?;
    let top = (end + 15) & !15;
    // SAFETY: the kernel copies only what is mapped.
    let r = unsafe { write(1, top - 1, i32::MAX as usize) };
    check(r == Ok(1), "expected a 1-byte short write")?;
    // SAFETY: as above.
    check(unsafe { write(1, top, 1 << 30) } == Err(Errno::EFAULT), "expected EFAULT past the top")?;
    // XNU refuses a byte count above INT_MAX before looking at the buffer (`write_nocancel`).
    // SAFETY: as above.
    check(unsafe { write(1, top - 1, usize::MAX / 2) } == Err(Errno::EINVAL), "expected EINVAL over INT_MAX")
}

fn write_bad_fd_ebadf(_: &Args) -> Result<(), &'static str> {
    check(write_bytes(77, b"x") == Err(Errno::EBADF), "fd 77 should be EBADF")?;
    check(write_bytes(-1, b"x") == Err(Errno::EBADF), "fd -1 should be EBADF")
}

fn read_bad_fd_ebadf(_: &Args) -> Result<(), &'static str> {
    let mut b = [0u8; 4];
    check(syscall::read_bytes(9, &mut b) == Err(Errno::EBADF), "fd 9 should be EBADF")
}

fn zero_length_write(_: &Args) -> Result<(), &'static str> {
    // SAFETY: nothing is copied for a zero length, even from a bad pointer.
    check(unsafe { write(1, UNMAPPED_ADDRESS, 0) } == Ok(0), "zero-length write should return 0")
}

/// Junk for the upper half of a register that carries a 32-bit argument.
const JUNK: u64 = 0xdead_beef_0000_0000;

/// A call made with raw registers, as a C caller that leaves the upper halves undefined may.
fn raw(nr: u32, regs: &[u64]) -> Result<u64, Errno> {
    // SAFETY: the callers pass no pointers but to live values of the right type.
    unsafe { syscall::syscall(nr, libsys::pad_args::<8>(regs)) }.map(|(x0, _)| x0)
}

/// For a 64-bit process XNU takes an `int` (or `u_int`, `pid_t`, …) argument as the low 32
/// bits of its register, whatever the upper half holds; 64-bit ones (`size_t`, `off_t`,
/// pointers) whole.
fn int_arguments_are_the_low_half(_: &Args) -> Result<(), &'static str> {
    use sys::syscalls::{SYS_close, SYS_dup2, SYS_getpgid, SYS_getrlimit, SYS_kill};
    let (me, pgrp) = (getpid().unwrap_or(0), syscall::getpgrp().unwrap_or(0));
    check(raw(SYS_kill, &[JUNK | me, JUNK, 1]) == Ok(0), "kill(pid with junk above, signal 0)")?;
    check(raw(SYS_getpgid, &[JUNK]) == Ok(pgrp), "getpgid(0 with junk above)")?;
    check(raw(SYS_dup2, &[JUNK | 1, JUNK | 30]) == Ok(30), "dup2 to 30")?;
    check(raw(SYS_close, &[JUNK | 30]) == Ok(0), "close(30 with junk above) closes 30")?;
    check(raw(SYS_close, &[30]) == Err(Errno::EBADF), "30 is closed")?;
    let mut lim = sys::resource::Rlimit { rlim_cur: 0, rlim_max: 0 };
    let at = &mut lim as *mut sys::resource::Rlimit as u64;
    let which = u64::from(sys::resource::RLIMIT_NOFILE);
    check(raw(SYS_getrlimit, &[JUNK | which, at]) == Ok(0), "getrlimit(u_int with junk above)")?;
    check(lim.rlim_cur > 0, "the limit was written")?;
    // A pointer is the whole register: junk there is a bad address.
    check(raw(SYS_getrlimit, &[which, JUNK | at]) == Err(Errno::EFAULT), "a pointer with junk above")
}

fn enosys_slot_fails_quietly(_: &Args) -> Result<(), &'static str> {
    // SAFETY: an old slot; no arguments are read.
    let r = unsafe { syscall::syscall(SYS_OLD_CREAT, [0; 8]) };
    check(r == Err(Errno::ENOSYS), "expected ENOSYS (and no SIGSYS: we are still here)")
}

fn indirect_syscall(_: &Args) -> Result<(), &'static str> {
    // x16 = 0: the number is in x0 (syscall(SYS_getpid)).
    // SAFETY: getpid takes no pointers.
    let r = unsafe { syscall::syscall(0, [sys::syscalls::SYS_getpid as u64, 0, 0, 0, 0, 0, 0, 0]) };
    check(r.map(|(x0, _)| x0) == Ok(1), "indirect getpid != 1")
}

fn task_self_is_stable(_: &Args) -> Result<(), &'static str> {
    let (a, b) = (mach_task_self(), mach_task_self());
    check(mach_port_valid(a), "task_self_trap returned no name")?;
    check(a == b, "task_self_trap names differ")
}

fn thread_self_differs_from_task(_: &Args) -> Result<(), &'static str> {
    let t = mach_thread_self();
    check(mach_port_valid(t) && t != mach_task_self(), "thread port name invalid or equal to task's")?;
    check(t == mach_thread_self(), "thread_self_trap names differ")
}

fn reply_ports_are_fresh(_: &Args) -> Result<(), &'static str> {
    let (a, b) = (mach_reply_port() as u32, mach_reply_port() as u32);
    check(a != MACH_PORT_NULL && b != MACH_PORT_NULL && a != b, "reply ports not distinct")?;
    check(a != mach_task_self() && b != mach_thread_self(), "reply port reused a name")
}

fn host_self(_: &Args) -> Result<(), &'static str> {
    let h = libsys::mach_traps::host_self_trap();
    check(mach_port_valid(h) && h != mach_task_self(), "host_self_trap")
}

fn timebase(_: &Args) -> Result<(), &'static str> {
    let tb = timebase_info().map_err(|_| "mach_timebase_info failed")?;
    check(tb.numer != 0 && tb.denom != 0, "zero timebase")
}

fn timebase_bad_pointer(_: &Args) -> Result<(), &'static str> {
    // SAFETY: the kernel must reject both pointers.
    let (a, b) = unsafe {
        (
            mach_timebase_info_trap(UNMAPPED_ADDRESS as *mut _),
            mach_timebase_info_trap(KERNEL_ADDRESS as *mut _),
        )
    };
    let bad = KernReturn::KERN_INVALID_ADDRESS;
    check(a == bad && b == bad, "expected KERN_INVALID_ADDRESS")
}

fn absolute_time_advances(_: &Args) -> Result<(), &'static str> {
    let t0 = mach_absolute_time_trap();
    let t1 = mach_absolute_time();
    let t2 = mach_absolute_time_trap();
    check(t0 != 0 && t0 <= t1 && t1 <= t2, "time went backwards")
}

fn platform_tsd_base(_: &Args) -> Result<(), &'static str> {
    thread_set_tsd_base(0x1_2345_6780);
    check(tpidrro() == 0x1_2345_6780, "TPIDRRO_EL0 not set")?;
    check(thread_get_tsd_base() == 0x1_2345_6780, "get_tsd_base disagrees")?;
    thread_set_tsd_base(KERNEL_ADDRESS);
    check(tpidrro() == 0, "a kernel address must be replaced by 0")
}

fn fp_state_survives_syscalls(_: &Args) -> Result<(), &'static str> {
    let x_bits: u64;
    // SAFETY: d8 is set, a system call is made, and d8 is read back; nothing else uses it.
    unsafe {
        core::arch::asm!(
            "fmov d8, #2.5",
            "mov x16, #20",
            "svc #0x80",
            "fmov {x}, d8",
            x = out(reg) x_bits,
            out("x0") _, out("x1") _, out("x16") _, out("d8") _,
        );
    }
    check(f64::from_bits(x_bits) == 2.5, "FP register clobbered by a system call")
}

const CASES: &[(&str, Case)] = &[
    ("BSD identity calls", identity),
    ("write to stdout", write_good),
    ("write from an unmapped pointer is EFAULT", write_unmapped_efault),
    ("write from NULL is EFAULT", write_null_efault),
    ("write from a kernel address is EFAULT", write_kernel_address_efault),
    ("write with a huge length is short, then EFAULT; over INT_MAX EINVAL", write_huge_length_is_short),
    ("write to a bad fd is EBADF", write_bad_fd_ebadf),
    ("read from a bad fd is EBADF", read_bad_fd_ebadf),
    ("zero-length write", zero_length_write),
    ("an enosys slot returns ENOSYS without a signal", enosys_slot_fails_quietly),
    ("32-bit arguments are the low half of their registers", int_arguments_are_the_low_half),
    ("indirect syscall (x16 = 0)", indirect_syscall),
    ("task_self_trap is stable", task_self_is_stable),
    ("thread_self_trap", thread_self_differs_from_task),
    ("mach_reply_port gives fresh names", reply_ports_are_fresh),
    ("host_self_trap", host_self),
    ("mach_timebase_info", timebase),
    ("mach_timebase_info with bad pointers", timebase_bad_pointer),
    ("mach_absolute_time, trap and counter", absolute_time_advances),
    ("platform call sets TPIDRRO_EL0", platform_tsd_base),
    ("FP registers survive a system call", fp_state_survives_syscalls),
];

fn main(args: &Args) -> i32 {
    // As the interpreter of /bin/args.sh, or a spawned child: answer in the exit status.
    if let Some(answer) = spawn::child_mode(args) {
        return answer;
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in CASES
        .iter()
        .chain(sched::CASES)
        .chain(vm::CASES)
        .chain(copyio::CASES)
        .chain(proc::CASES)
        .chain(spawn::CASES)
        .chain(exec::CASES)
        .chain(cwd::CASES)
        .chain(limits::CASES)
        .chain(files::CASES)
        .chain(fileports::CASES)
        .chain(groups::CASES)
        .chain(names::CASES)
        .chain(pipes::CASES)
        .chain(devfs::CASES)
        .chain(fileio::CASES)
        .chain(truncate::CASES)
        .chain(mapped_files::CASES)
        .chain(mount::CASES)
        .chain(poll::CASES)
        .chain(fifo::CASES)
        .chain(introspect::CASES)
        .chain(ports::CASES)
        .chain(ipc::CASES)
        .chain(kobject::CASES)
        .chain(processor::CASES)
        .chain(sema::CASES)
        .chain(setid::CASES)
        .chain(ipc_fuzz::CASES)
        .chain(ipc_robust::CASES)
        .chain(smp_stress::CASES)
        .chain(smp_tlb::CASES)
        // Last: it fills /tmp up to the file system's budget (nothing can unlink yet).
        .chain(robust::CASES)
    {
        match case(args) {
            Ok(()) => {
                passed += 1;
                println!("utest: {name} ... ok");
            }
            Err(why) => {
                failed += 1;
                println!("utest: {name} ... FAILED: {why}");
            }
        }
    }
    println!("utest: {passed} passed, {failed} failed");
    failed
}

entry!(main);
