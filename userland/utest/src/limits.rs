//! Resource limits and process churn (issue M1.4): getrlimit/setrlimit rules, each limit
//! enforced, a fork bomb that ends in EAGAIN, and many fork/exit/wait cycles.

use libsys::process::{Forked, fork, waitpid};
use libsys::signal::kill;
use libsys::syscall::{exit_process, getrlimit, setrlimit, setuid};
use libsys::{Args, Errno};
use sys::resource::*;
use sys::signal::SIGKILL;
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("getrlimit / setrlimit rules", rlimit_rules),
    ("RLIMIT_NOFILE and RLIMIT_AS are enforced", rlimits_enforced),
    ("a fork bomb by an unprivileged user ends in EAGAIN", fork_bomb),
    ("500 fork/exit/wait cycles leave no memory behind", churn),
];

fn get(which: u32) -> Result<Rlimit, Errno> {
    let mut r = Rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a writable `struct rlimit`.
    unsafe { getrlimit(which, &mut r as *mut Rlimit as u64)? };
    Ok(r)
}

fn set(which: u32, cur: u64, max: u64) -> Result<(), Errno> {
    let r = Rlimit { rlim_cur: cur, rlim_max: max };
    // SAFETY: `r` is a readable `struct rlimit`.
    unsafe { setrlimit(which, &r as *const Rlimit as u64).map(|_| ()) }
}

/// Run `f` in a child; its exit status.
fn in_child(f: impl FnOnce() -> i32) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(f()),
        Forked::Parent(pid) => {
            let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
            check(wifexited(status), "the child did not exit")?;
            Ok(wexitstatus(status))
        }
    }
}

fn rlimit_rules(_: &Args) -> Result<(), &'static str> {
    let stack = get(RLIMIT_STACK).map_err(|_| "getrlimit")?;
    check(stack.rlim_cur == 8 << 20, "default stack limit is 8 MiB")?;
    check(get(RLIM_NLIMITS) == Err(Errno::EINVAL), "bad resource")?;
    check(set(RLIMIT_NOFILE, 10, 5) == Err(Errno::EINVAL), "soft above hard")?;
    // SAFETY: the kernel rejects the bad pointer.
    check(unsafe { getrlimit(RLIMIT_NOFILE, KERNEL_ADDRESS) } == Err(Errno::EFAULT), "bad pointer")?;
    let status = in_child(|| {
        let _ = setuid(1000);
        let lowered = set(RLIMIT_CORE, 0, 0) == Ok(());
        let raise = set(RLIMIT_CORE, 0, 10) == Err(Errno::EPERM);
        i32::from(!(lowered && raise))
    })?;
    check(status == 0, "only root raises a hard limit")
}

fn rlimits_enforced(_: &Args) -> Result<(), &'static str> {
    let status = in_child(|| {
        // With a limit of 3 descriptors, a child (which inherits it) cannot have fd 5.
        use libsys::process::{SpawnAction, spawn};
        let open5 = SpawnAction::Open { fd: 5, path: b"/bin/not-elf\0", oflag: 0, mode: 0 };
        let files_ok = set(RLIMIT_NOFILE, 3, 3) == Ok(())
            && spawn(b"/bin/utest\0", &[b"x\0", b"--print-args\0"], None, &[open5]) == Err(Errno::EBADF);
        let as_ok = set(RLIMIT_AS, 64 << 20, RLIM_INFINITY) == Ok(()) && {
            let mut addr = 0u64;
            let task = libsys::mach_traps::mach_task_self();
            // SAFETY: `addr` is a valid in/out u64.
            let kr = unsafe {
                libsys::mach_traps::_kernelrpc_mach_vm_allocate_trap(
                    task,
                    core::ptr::from_mut(&mut addr).cast(),
                    128 << 20,
                    mach::vm::VM_FLAGS_ANYWHERE as i32,
                )
            };
            kr == mach::KernReturn::KERN_NO_SPACE
        };
        i32::from(!files_ok) | i32::from(!as_ok) << 1
    })?;
    check(status == 0, "limits not enforced")
}

fn fork_bomb(_: &Args) -> Result<(), &'static str> {
    let before = free_pages()?;
    let status = in_child(|| {
        let _ = setuid(4242);
        if set(RLIMIT_NPROC, 16, 16).is_err() {
            return 10;
        }
        let mut made = 0;
        let refused = loop {
            match fork() {
                Ok(Forked::Child) => loop {
                    crate::sched::sleep_ms(1000);
                },
                Ok(Forked::Parent(_)) => made += 1,
                Err(e) => break e,
            }
            if made > 100 {
                break Errno::EINVAL;
            }
        };
        // Everything this user started goes; the kernel must take it all back.
        let _ = kill(-1, SIGKILL);
        while waitpid(-1, 0).is_ok() {}
        if refused == Errno::EAGAIN && made < 16 { 0 } else { 1 }
    })?;
    check(status == 0, "the fork bomb was not stopped with EAGAIN")?;
    // Every process of the bomb is gone, and so is every page it held.
    check(free_pages()? + 16 >= before, "the fork bomb's memory did not come back")
}

/// Free physical pages (`vm.page_free_count`).
pub(crate) fn free_pages() -> Result<u32, &'static str> {
    let mut v = [0u8; 4];
    libsys::introspect::sysctlbyname_read(b"vm.page_free_count", &mut v).map_err(|_| "vm.page_free_count")?;
    Ok(u32::from_le_bytes(v))
}

fn churn(_: &Args) -> Result<(), &'static str> {
    let cycle = |i: i32| -> Result<(), &'static str> {
        let pid = match fork().map_err(|_| "fork")? {
            Forked::Child => exit_process(i % 256),
            Forked::Parent(pid) => pid,
        };
        let (got, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
        check(got == pid && wexitstatus(status) == i % 256, "wrong child status")
    };
    // A few cycles first, so that one-time growth (our own page tables, say) is counted out.
    for i in 0..20 {
        cycle(i)?;
    }
    let before = free_pages()?;
    for i in 20..500 {
        cycle(i)?;
    }
    let after = free_pages()?;
    // A leak of even one page per cycle would show as 480; allow a little slack for pages
    // our own process touches meanwhile (stack, heap).
    check(after + 16 >= before, "fork/exit/wait cycles leaked physical memory")
}
