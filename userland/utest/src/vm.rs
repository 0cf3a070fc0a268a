//! Virtual memory from user space (issue M1.2): the `mach_vm_*` traps and the BSD mapping
//! calls, lazily filled memory, protections, and bad arguments.

use core::ptr;

use libsys::mach_traps::{
    _kernelrpc_mach_vm_allocate_trap as vm_allocate, _kernelrpc_mach_vm_deallocate_trap as vm_deallocate,
    _kernelrpc_mach_vm_map_trap as vm_map, _kernelrpc_mach_vm_protect_trap as vm_protect, mach_task_self,
    mach_trap,
};
use libsys::syscall::{gettimeofday, madvise, minherit, mmap, mprotect, munmap};
use libsys::{Args, Errno};
use mach::KernReturn;
use mach::message::MACH_SEND_INVALID_DEST;
use mach::traps::nr;
use mach::vm::{VM_FLAGS_ANYWHERE, VM_FLAGS_FIXED, VmProt};
use sys::mman::*;

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("mach_vm_allocate: lazily zero-filled, usable, deallocatable", allocate_use_free),
    ("mach_vm_allocate: fixed, overlap and size errors", allocate_errors),
    ("mach_vm_* traps on a port that is not our task", wrong_target),
    ("mach_vm_protect: lowering, and the maximum", protect),
    ("mach_vm_protect: boolean_t and vm_prot_t are their register's low half", protect_low_half),
    ("mach_vm_map: alignment mask", map_aligned),
    ("64 MiB reserved, one page per MiB touched", sparse_touch),
    ("copyout into a page never touched", copyout_to_fresh_page),
    ("mmap / munmap anonymous memory", mmap_anon),
    ("mmap, mprotect, madvise, minherit errors", mman_errors),
    ("32 TiB mappings: touch, mprotect, fork, munmap stay cheap", huge_sparse),
];

const PAGE: u64 = 4096;

pub(crate) fn allocate(size: u64) -> Result<u64, &'static str> {
    let mut addr = 0u64;
    // SAFETY: `addr` is a valid in/out u64.
    let r = unsafe {
        vm_allocate(mach_task_self(), ptr::from_mut(&mut addr).cast(), size, VM_FLAGS_ANYWHERE as i32)
    };
    if r == KernReturn::KERN_SUCCESS { Ok(addr) } else { Err("mach_vm_allocate failed") }
}

pub(crate) fn deallocate(addr: u64, size: u64) -> KernReturn {
    // SAFETY: no pointers are dereferenced by the caller.
    unsafe { vm_deallocate(mach_task_self(), addr, size) }
}

/// Is the page at `addr` mapped? (Re-applying read/write to it fails if not.)
pub(crate) fn is_mapped(addr: u64) -> bool {
    // SAFETY: no pointers; the protection is what the page already has.
    let r = unsafe { vm_protect(mach_task_self(), addr, 1, false, VmProt::DEFAULT) };
    r == KernReturn::KERN_SUCCESS
}

fn allocate_use_free(_: &Args) -> Result<(), &'static str> {
    let size = 16 * PAGE;
    let a = allocate(size)?;
    check(a >= 0x1_0000_0000 && a.is_multiple_of(PAGE), "address below 4 GiB or unaligned")?;
    let p = a as *mut u64;
    // SAFETY: [a, a + size) was just allocated read-write.
    unsafe {
        check((0..size as usize / 8).all(|i| p.add(i).read_volatile() == 0), "fresh memory is not zero")?;
        for i in 0..size as usize / 8 {
            p.add(i).write_volatile(i as u64 ^ 0x5a5a);
        }
        check(
            (0..size as usize / 8).all(|i| p.add(i).read_volatile() == i as u64 ^ 0x5a5a),
            "memory lost writes",
        )?;
    }
    check(deallocate(a, size) == KernReturn::KERN_SUCCESS, "deallocate failed")?;
    // The same range can be had again, fixed, and it is zero once more.
    let mut again = a;
    // SAFETY: `again` is a valid in/out u64.
    let r = unsafe {
        vm_allocate(mach_task_self(), ptr::from_mut(&mut again).cast(), size, VM_FLAGS_FIXED as i32)
    };
    check(r == KernReturn::KERN_SUCCESS && again == a, "fixed re-allocation failed")?;
    // SAFETY: re-allocated above.
    check(unsafe { (a as *const u64).read_volatile() } == 0, "re-allocated memory is not zero")?;
    check(deallocate(a, size) == KernReturn::KERN_SUCCESS, "second deallocate failed")
}

fn allocate_errors(_: &Args) -> Result<(), &'static str> {
    let a = allocate(4 * PAGE)?;
    let task = mach_task_self();
    let mut addr = a;
    // SAFETY: pointers are valid or deliberately bad (and then rejected).
    unsafe {
        let r = vm_allocate(task, ptr::from_mut(&mut addr).cast(), PAGE, VM_FLAGS_FIXED as i32);
        check(r == KernReturn::KERN_NO_SPACE, "fixed over an allocation must be KERN_NO_SPACE")?;
        let mut low = 0x1000u64;
        let r = vm_allocate(task, ptr::from_mut(&mut low).cast(), PAGE, VM_FLAGS_FIXED as i32);
        check(
            r == KernReturn::KERN_INVALID_ADDRESS || r == KernReturn::KERN_NO_SPACE,
            "page zero is not allocatable",
        )?;
        let mut any = 0u64;
        let r = vm_allocate(task, ptr::from_mut(&mut any).cast(), u64::MAX - PAGE, VM_FLAGS_ANYWHERE as i32);
        check(r != KernReturn::KERN_SUCCESS, "a size near 2^64 must fail")?;
        let r = vm_allocate(task, ptr::from_mut(&mut any).cast(), PAGE, 0x200);
        check(r == KernReturn::KERN_INVALID_ARGUMENT, "unknown flags must be KERN_INVALID_ARGUMENT")?;
        let r = vm_allocate(task, KERNEL_ADDRESS as *mut _, PAGE, VM_FLAGS_ANYWHERE as i32);
        check(r == KernReturn::KERN_INVALID_ADDRESS, "a bad address pointer")?;
    }
    check(deallocate(a, 4 * PAGE) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn wrong_target(_: &Args) -> Result<(), &'static str> {
    let mut addr = 0u64;
    let thread = libsys::mach_traps::mach_thread_self();
    let not_ours = KernReturn(MACH_SEND_INVALID_DEST);
    // SAFETY: the traps reject the target before touching memory.
    unsafe {
        for target in [0, 0xdead_0003, thread] {
            let r = vm_allocate(target, ptr::from_mut(&mut addr).cast(), PAGE, VM_FLAGS_ANYWHERE as i32);
            check(r == not_ours, "vm_allocate on a bad target")?;
            check(vm_deallocate(target, 0x1_0000_0000, PAGE) == not_ours, "vm_deallocate")?;
            check(vm_protect(target, 0x1_0000_0000, PAGE, false, VmProt::READ) == not_ours, "vm_protect")?;
        }
    }
    Ok(())
}

fn protect(_: &Args) -> Result<(), &'static str> {
    let a = allocate(2 * PAGE)?;
    let task = mach_task_self();
    // SAFETY: [a, a + 2 pages) is ours.
    unsafe {
        (a as *mut u64).write_volatile(7);
        check(
            vm_protect(task, a, 2 * PAGE, false, VmProt::READ) == KernReturn::KERN_SUCCESS,
            "to read-only",
        )?;
        check((a as *const u64).read_volatile() == 7, "read-only page lost its data")?;
        // Lower the maximum to read; asking for write afterwards must fail.
        check(vm_protect(task, a, 2 * PAGE, true, VmProt::READ) == KernReturn::KERN_SUCCESS, "set max")?;
        check(
            vm_protect(task, a, 2 * PAGE, false, VmProt::DEFAULT) == KernReturn::KERN_PROTECTION_FAILURE,
            "above the maximum must be KERN_PROTECTION_FAILURE",
        )?;
        check(
            vm_protect(task, a, 2 * PAGE, false, VmProt(0x40)) == KernReturn::KERN_INVALID_ARGUMENT,
            "bad protection bits",
        )?;
        check(
            vm_protect(task, 0x7000_0000_0000, PAGE, false, VmProt::READ) == KernReturn::KERN_INVALID_ADDRESS,
            "protecting a hole must be KERN_INVALID_ADDRESS",
        )?;
        // A copyout into a read-only page fails cleanly.
        check(gettimeofday(a, 0, 0) == Err(Errno::EFAULT), "copyout into a read-only page")?;
    }
    check(deallocate(a, 2 * PAGE) == KernReturn::KERN_SUCCESS, "cleanup")
}

/// XNU reads a 32-bit argument from the low half of its register: `set_maximum` with only
/// upper bits set is false, and junk above a protection is ignored. (Through the raw trap: the
/// typed stub cannot pass such registers.)
fn protect_low_half(_: &Args) -> Result<(), &'static str> {
    const JUNK: u64 = 0xdead_beef_0000_0000;
    let a = allocate(PAGE)?;
    let task = JUNK | u64::from(mach_task_self());
    let protect = |set_maximum: u64, prot: VmProt| {
        let regs = [task, a, PAGE, set_maximum, JUNK | u64::from(prot.0 as u32)];
        // SAFETY: it changes only the protection of the page allocated above, which no
        // Rust value lives in.
        KernReturn::from_reg(unsafe {
            mach_trap(nr::_kernelrpc_mach_vm_protect_trap, libsys::pad_args::<8>(&regs))
        })
    };
    let ok = KernReturn::KERN_SUCCESS;
    check(protect(1 << 32, VmProt::READ) == ok, "to read-only, set_maximum false")?;
    check(protect(0, VmProt::DEFAULT) == ok, "the maximum was lowered by upper bits")?;
    check(protect(JUNK | 1, VmProt::READ) == ok, "set_maximum true in the low half")?;
    check(protect(0, VmProt::DEFAULT) == KernReturn::KERN_PROTECTION_FAILURE, "the maximum was not lowered")?;
    check(deallocate(a, PAGE) == ok, "cleanup")
}

fn map_aligned(_: &Args) -> Result<(), &'static str> {
    let mut addr = 0u64;
    let align = 1u64 << 20;
    // SAFETY: `addr` is a valid in/out u64.
    let r = unsafe {
        vm_map(
            mach_task_self(),
            ptr::from_mut(&mut addr).cast(),
            3 * PAGE,
            align - 1,
            VM_FLAGS_ANYWHERE as i32,
            VmProt::DEFAULT,
        )
    };
    check(r == KernReturn::KERN_SUCCESS, "mach_vm_map failed")?;
    check(addr.is_multiple_of(align), "mask not honoured")?;
    check(deallocate(addr, 3 * PAGE) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn sparse_touch(_: &Args) -> Result<(), &'static str> {
    let size = 64 << 20;
    let a = allocate(size)?;
    for mib in 0..64u64 {
        let p = (a + (mib << 20) + 8 * mib) as *mut u64;
        // SAFETY: inside the allocation.
        unsafe { p.write_volatile(mib + 1) };
    }
    for mib in 0..64u64 {
        let p = (a + (mib << 20) + 8 * mib) as *const u64;
        // SAFETY: inside the allocation.
        check(unsafe { p.read_volatile() } == mib + 1, "sparse page lost its value")?;
    }
    check(deallocate(a, size) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn copyout_to_fresh_page(_: &Args) -> Result<(), &'static str> {
    let a = allocate(PAGE)?;
    // SAFETY: the page is ours; the kernel must fault it in to write the time there.
    let r = unsafe { gettimeofday(a, 0, 0) };
    check(r == Ok(0), "gettimeofday into a fresh page")?;
    // SAFETY: as above.
    check(unsafe { (a as *const i64).read_volatile() } > 1_577_836_800, "no time written")?;
    check(deallocate(a, PAGE) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn mmap_anon(_: &Args) -> Result<(), &'static str> {
    let len = 8 * PAGE;
    // SAFETY: anonymous mapping; no pointers passed in.
    let a = unsafe { mmap(0, len as usize, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0) }
        .map_err(|_| "mmap failed")?;
    // SAFETY: mapped above, read-write.
    unsafe {
        (a as *mut u64).add(len as usize / 8 - 1).write_volatile(42);
        check((a as *const u64).add(len as usize / 8 - 1).read_volatile() == 42, "mmap'd memory")?;
        check(mprotect(a, len as usize, PROT_READ) == Ok(0), "mprotect read-only")?;
        check(madvise(a, len as usize, MADV_DONTNEED) == Ok(0), "madvise")?;
        check(minherit(a, len as usize, VM_INHERIT_NONE) == Ok(0), "minherit")?;
        check(munmap(a, len as usize) == Ok(0), "munmap")?;
        // MAP_FIXED into the range just freed.
        let b = mmap(a, PAGE as usize, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0);
        check(b == Ok(a), "MAP_FIXED at a free address")?;
        check((a as *const u64).read_volatile() == 0, "MAP_FIXED memory not zero")?;
        // A Mach VM tag in fd is allowed with MAP_ANON.
        let c = mmap(0, PAGE as usize, PROT_READ, MAP_ANON | MAP_SHARED, 0x0500_0000, 0);
        check(c.is_ok(), "MAP_ANON with a VM tag in fd")?;
        check(munmap(a, PAGE as usize) == Ok(0) && munmap(c.unwrap_or(0), PAGE as usize) == Ok(0), "cleanup")
    }
}

/// Huge, mostly untouched mappings: protecting, forking and unmapping them must cost in
/// proportion to the pages touched, not to their size (a page-by-page walk of 32 TiB
/// would never finish).
fn huge_sparse(_: &Args) -> Result<(), &'static str> {
    const HUGE: u64 = 32 << 40;
    let rw = PROT_READ | PROT_WRITE;
    // SAFETY: anonymous mappings; no pointers passed in.
    let private =
        unsafe { mmap(0, HUGE as usize, rw, MAP_ANON | MAP_PRIVATE, -1, 0) }.map_err(|_| "mmap private")?;
    // SAFETY: as above.
    let shared =
        unsafe { mmap(0, HUGE as usize, rw, MAP_ANON | MAP_SHARED, -1, 0) }.map_err(|_| "mmap shared")?;
    let spots = [0, HUGE / 2 + 5 * PAGE, HUGE - PAGE];
    // SAFETY: every spot is inside both read-write mappings.
    unsafe {
        for (i, &off) in spots.iter().enumerate() {
            ((private + off) as *mut u64).write_volatile(i as u64 + 1);
            ((shared + off) as *mut u64).write_volatile(i as u64 + 10);
        }
    }
    // SAFETY: the mappings are ours.
    check(unsafe { mprotect(private, HUGE as usize, PROT_READ) } == Ok(0), "mprotect 32 TiB")?;
    // A copied shared mapping is snapshotted at fork (`copy_slowly`).
    // SAFETY: as above.
    check(unsafe { minherit(shared, HUGE as usize, VM_INHERIT_COPY) } == Ok(0), "minherit copy")?;
    let status = crate::proc::in_child(|| {
        let mut ok = true;
        // SAFETY: the child's copies of both mappings.
        unsafe {
            for (i, &off) in spots.iter().enumerate() {
                ok &= ((private + off) as *const u64).read_volatile() == i as u64 + 1;
                ok &= ((shared + off) as *const u64).read_volatile() == i as u64 + 10;
                ((shared + off) as *mut u64).write_volatile(0);
            }
        }
        if ok { 0 } else { 1 }
    })?;
    check(sys::wait::wifexited(status) && sys::wait::wexitstatus(status) == 0, "the child saw other values")?;
    // SAFETY: reading our own mapping.
    let kept = spots
        .iter()
        .enumerate()
        .all(|(i, &off)| unsafe { ((shared + off) as *const u64).read_volatile() } == i as u64 + 10);
    check(kept, "the child's writes to its copy reached the parent")?;
    // SAFETY: the mappings are ours.
    check(
        unsafe { munmap(private, HUGE as usize) } == Ok(0)
            && unsafe { munmap(shared, HUGE as usize) } == Ok(0),
        "munmap 32 TiB",
    )
}

fn mman_errors(_: &Args) -> Result<(), &'static str> {
    let rw = PROT_READ | PROT_WRITE;
    // SAFETY: every call must be rejected (or act on nothing) without touching memory.
    unsafe {
        check(mmap(0, 0, rw, MAP_ANON | MAP_PRIVATE, -1, 0) == Err(Errno::EINVAL), "zero length")?;
        check(
            mmap(0, PAGE as usize, rw, MAP_ANON | MAP_PRIVATE, 3, 0) == Err(Errno::EINVAL),
            "junk VM flags in fd",
        )?;
        check(mmap(0, PAGE as usize, 0x80, MAP_ANON | MAP_PRIVATE, -1, 0) == Err(Errno::EINVAL), "bad prot")?;
        check(mmap(0, PAGE as usize, rw, MAP_ANON | 0x1000_0000, -1, 0) == Err(Errno::EINVAL), "bad flags")?;
        check(mmap(0, PAGE as usize, rw, MAP_PRIVATE, 1, 0) == Err(Errno::ENODEV), "mapping the console")?;
        check(mmap(0, PAGE as usize, rw, MAP_PRIVATE, 57, 0) == Err(Errno::EBADF), "mapping a closed fd")?;
        check(
            mmap(0x1_0000_0123, PAGE as usize, rw, MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0)
                == Err(Errno::EINVAL),
            "unaligned MAP_FIXED",
        )?;
        check(munmap(0x1_0000_0123, PAGE as usize) == Err(Errno::EINVAL), "unaligned munmap")?;
        check(munmap(0x1_0000_0000, 0) == Err(Errno::EINVAL), "zero-length munmap")?;
        check(
            mprotect(0x7000_0000_0000, PAGE as usize, PROT_READ) == Err(Errno::ENOMEM),
            "mprotect on a hole",
        )?;
        check(
            madvise(0x7000_0000_0000, PAGE as usize, MADV_NORMAL) == Err(Errno::ENOMEM),
            "madvise on a hole",
        )?;
        check(madvise(0x1_0000_0000, PAGE as usize, 99) == Err(Errno::EINVAL), "bad advice")?;
        check(minherit(0x1_0000_0000, PAGE as usize, 9) == Err(Errno::EINVAL), "bad inheritance")
    }
}
