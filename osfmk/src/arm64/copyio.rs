//! copyin / copyout / copyinstr: the only way the kernel touches user memory.
//!
//! A copy runs on the current thread's address space (TTBR0), through the MMU. The user range
//! is checked first (inside `USER_VM_MIN..USER_VM_MAX`, no wrap-around); then small routines
//! in assembly (below) move the bytes with unprivileged loads and stores (`LDTR`/`STTR`,
//! Arm ARM C6.2: at EL1 they are checked against the EL0 permissions, so PAN does not stop
//! them and a kernel-only page faults like an unmapped one). They move eight bytes at a time
//! while the user address is 8-aligned (such an access never straddles two pages, so the
//! fault address is the page to resolve), single bytes for the head and the tail.
//!
//! The fault-fixup path. Every user access of the routines lies in a range of the fixup
//! table ([`copyio_fixup`]). A data abort taken at EL1 whose ELR is in one of them goes to
//! `copyio_fault` in `kernel/src/exception.rs`, which does what a user fault does: if it is
//! an MMU fault (translation, access flag, permission) at a user address, it runs
//! `vm_map_fault` on the current task's map — taking only that map's lock, the read side,
//! upgraded to the write side only when the entry itself must change (see `vm::vm_fault`) —
//! with interrupts enabled again if the copy had them (copies run with interrupts on, and a
//! fault may one day sleep for a disk), and returns to the faulting instruction, which runs
//! again. A fault it cannot resolve (no entry, the protection, no memory, a kernel address,
//! an alignment or external abort) resumes at the range's fixup instead: a word access goes
//! on byte by byte, so the copy stops exactly at the first byte it cannot move, and a byte
//! access ends the routine with the count of bytes not moved. copyin and copyout then return
//! `Err(bytes copied)` (the caller's `EFAULT` / `KERN_INVALID_ADDRESS`), copyinstr
//! `KERN_INVALID_ADDRESS`.
//!
//! Hence the rule: no caller holds a spin lock across a copy (a fault takes the map's
//! sleeping read lock, which may block, and may need the very lock the caller holds); the
//! wrappers check it: the lock validator's `assert_may_block`, and interrupts must be on. And every caller copies within the task it runs in: a system
//! call or trap for the current thread, signal delivery on the target thread, a receive by
//! the receiver. A map that is not the current one is reached only by the software path,
//! which walks the map and moves the bytes through the direct map under the map's write
//! lock: [`FreshMap`] (exec's new map) and [`copyout_to_map`] (`mach_vm_write` into another
//! task).

use core::arch::global_asm;

use mach::KernReturn;

use mach::vm::{VmInherit, VmProt};

use crate::arm64::pmap::{USER_VM_MAX, USER_VM_MIN, phys_to_virt};
use crate::vm::vm_fault::vm_map_kernel_page;
use crate::vm::vm_map::{VmMap, VmPlacement};
use crate::vm::vm_page::PAGE_SIZE;

pub use crate::vm::user_ptr::UserAddr;

use crate::vm::user_ptr::is_user_range as user_range;

/// Is `addr` a user address (one a fault inside a copy may be resolved at)?
pub fn is_user_address(addr: u64) -> bool {
    (USER_VM_MIN..USER_VM_MAX).contains(&addr)
}

/// What every copy checks first: its caller may block, since a fault in the copy resolves
/// through `vm_fault`, which takes the map's sleeping lock. The lock validator checks that no
/// spin lock of either kind is held and this is not interrupt context; interrupts still
/// masked here mean an interrupt-masking spin lock is held (or a caller masked them).
fn copy_may_block() {
    crate::kern::locks::assert_may_block();
    debug_assert!(
        !crate::arm64::cpu::interrupts_masked(),
        "copyin/copyout with interrupts masked (a spin lock held across a copy?)"
    );
}

// The copy routines. AAPCS64 calls: arguments in x0–x2, the result in x0 (x0 and x1 for
// copyinstr); they clobber x0–x6 and the flags only, and use no stack. x0 (the source), x1
// (the destination) and x2 (bytes left) advance only after a store, so at a fault they still
// say what is left to do. The `copyio_*_start`/`_end` labels bracket the user accesses; the
// table at the end gives each bracket its fixup.
global_asm!(
    r#"
.section .text.copyio, "ax"
.balign 16

// usize rxnu_copyin(u64 user_src, u8 *dst, usize len): the bytes not copied (0: all).
.global rxnu_copyin
rxnu_copyin:
    cbz     x2, copyio_in_done
copyio_in_head:
    tst     x0, #7
    b.eq    copyio_in_bulk
copyio_in_head_start:
    ldtrb   w3, [x0]
copyio_in_head_end:
    strb    w3, [x1], #1
    add     x0, x0, #1
    subs    x2, x2, #1
    b.ne    copyio_in_head
    b       copyio_in_done
copyio_in_bulk:
    cmp     x2, #32
    b.lo    copyio_in_words
copyio_in_bulk_start:
    ldtr    x3, [x0]
    ldtr    x4, [x0, #8]
    ldtr    x5, [x0, #16]
    ldtr    x6, [x0, #24]
copyio_in_bulk_end:
    stp     x3, x4, [x1]
    stp     x5, x6, [x1, #16]
    add     x0, x0, #32
    add     x1, x1, #32
    sub     x2, x2, #32
    b       copyio_in_bulk
copyio_in_words:
    cmp     x2, #8
    b.lo    copyio_in_tail
copyio_in_word_start:
    ldtr    x3, [x0]
copyio_in_word_end:
    str     x3, [x1], #8
    add     x0, x0, #8
    sub     x2, x2, #8
    b       copyio_in_words
copyio_in_tail:
    cbz     x2, copyio_in_done
copyio_in_tail_start:
    ldtrb   w3, [x0]
copyio_in_tail_end:
    strb    w3, [x1], #1
    add     x0, x0, #1
    sub     x2, x2, #1
    b       copyio_in_tail
copyio_in_done:
    mov     x0, x2
    ret

// usize rxnu_copyout(const u8 *src, u64 user_dst, usize len): the bytes not copied.
.global rxnu_copyout
rxnu_copyout:
    cbz     x2, copyio_out_done
copyio_out_head:
    tst     x1, #7
    b.eq    copyio_out_bulk
    ldrb    w3, [x0]
copyio_out_head_start:
    sttrb   w3, [x1]
copyio_out_head_end:
    add     x0, x0, #1
    add     x1, x1, #1
    subs    x2, x2, #1
    b.ne    copyio_out_head
    b       copyio_out_done
copyio_out_bulk:
    cmp     x2, #32
    b.lo    copyio_out_words
    ldp     x3, x4, [x0]
    ldp     x5, x6, [x0, #16]
copyio_out_bulk_start:
    sttr    x3, [x1]
    sttr    x4, [x1, #8]
    sttr    x5, [x1, #16]
    sttr    x6, [x1, #24]
copyio_out_bulk_end:
    add     x0, x0, #32
    add     x1, x1, #32
    sub     x2, x2, #32
    b       copyio_out_bulk
copyio_out_words:
    cmp     x2, #8
    b.lo    copyio_out_tail
    ldr     x3, [x0]
copyio_out_word_start:
    sttr    x3, [x1]
copyio_out_word_end:
    add     x0, x0, #8
    add     x1, x1, #8
    sub     x2, x2, #8
    b       copyio_out_words
copyio_out_tail:
    cbz     x2, copyio_out_done
    ldrb    w3, [x0]
copyio_out_tail_start:
    sttrb   w3, [x1]
copyio_out_tail_end:
    add     x0, x0, #1
    add     x1, x1, #1
    sub     x2, x2, #1
    b       copyio_out_tail
copyio_out_done:
    mov     x0, x2
    ret

// (u64 status, usize len) rxnu_copyinstr(u64 user_src, u8 *dst, usize max): copy bytes up
// to and including a NUL, at most `max`. Status 0: the NUL was copied; 1: no NUL in `max`
// bytes; 2: a fault. `len` is the bytes stored (with the NUL, for status 0).
.global rxnu_copyinstr
rxnu_copyinstr:
    mov     x4, x1
copyio_str_loop:
    cbz     x2, copyio_str_long
copyio_str_start:
    ldtrb   w3, [x0]
copyio_str_end:
    strb    w3, [x1], #1
    add     x0, x0, #1
    sub     x2, x2, #1
    cbnz    w3, copyio_str_loop
    mov     x0, #0
    sub     x1, x1, x4
    ret
copyio_str_long:
    mov     x0, #1
    sub     x1, x1, x4
    ret
copyio_str_fault:
    mov     x0, #2
    sub     x1, x1, x4
    ret

// The fixup table: (first instruction, one past the last, where to resume) per bracket.
.section .rodata.copyio_fixups, "a"
.balign 8
.global rxnu_copyio_fixups
rxnu_copyio_fixups:
    .quad copyio_in_head_start, copyio_in_head_end, copyio_in_done
    .quad copyio_in_bulk_start, copyio_in_bulk_end, copyio_in_tail
    .quad copyio_in_word_start, copyio_in_word_end, copyio_in_tail
    .quad copyio_in_tail_start, copyio_in_tail_end, copyio_in_done
    .quad copyio_out_head_start, copyio_out_head_end, copyio_out_done
    .quad copyio_out_bulk_start, copyio_out_bulk_end, copyio_out_tail
    .quad copyio_out_word_start, copyio_out_word_end, copyio_out_tail
    .quad copyio_out_tail_start, copyio_out_tail_end, copyio_out_done
    .quad copyio_str_start, copyio_str_end, copyio_str_fault
"#
);

/// One bracket of the fixup table.
#[repr(C)]
struct Fixup {
    start: u64,
    end: u64,
    resume: u64,
}

/// Brackets in `rxnu_copyio_fixups`.
const FIXUP_COUNT: usize = 9;

/// The result registers of `rxnu_copyinstr`.
#[repr(C)]
struct StrResult {
    status: u64,
    len: usize,
}

const STR_FOUND_NUL: u64 = 0;
const STR_TOO_LONG: u64 = 1;

// SAFETY: the routines above follow AAPCS64 with these signatures: they read and write only
// the user range and the kernel buffer they are given (`len`/`max` bytes of each), and
// `rxnu_copyio_fixups` is FIXUP_COUNT read-only `Fixup`s, never written.
unsafe extern "C" {
    fn rxnu_copyin(user_src: u64, dst: *mut u8, len: usize) -> usize;
    fn rxnu_copyout(src: *const u8, user_dst: u64, len: usize) -> usize;
    fn rxnu_copyinstr(user_src: u64, dst: *mut u8, max: usize) -> StrResult;
    safe static rxnu_copyio_fixups: [Fixup; FIXUP_COUNT];
}

/// Where a data abort at `pc` resumes if it cannot be resolved, when `pc` is a user access
/// of a copy routine (the exception handler resolves such faults like user faults).
pub fn copyio_fixup(pc: u64) -> Option<u64> {
    rxnu_copyio_fixups.iter().find(|f| (f.start..f.end).contains(&pc)).map(|f| f.resume)
}

/// Copy `buf.len()` bytes from user `src` (current address space). On failure, returns
/// how many bytes were copied.
pub fn copyin(src: UserAddr, buf: &mut [u8]) -> Result<(), usize> {
    copy_may_block();
    if buf.is_empty() {
        return Ok(());
    }
    if !user_range(src.0, buf.len()) {
        return Err(0);
    }
    // SAFETY: `buf` is ours to write for its length; the source is user memory, which the
    // routine reads with unprivileged loads (a bad address faults and is fixed up, see the
    // module doc), so no kernel memory is read for it.
    let left = unsafe { rxnu_copyin(src.0, buf.as_mut_ptr(), buf.len()) };
    if left == 0 { Ok(()) } else { Err(buf.len() - left) }
}

/// Copy `buf` to user `dst` (current address space; it must be writable). On failure,
/// returns how many bytes were copied.
pub fn copyout(buf: &[u8], dst: UserAddr) -> Result<(), usize> {
    copy_may_block();
    if buf.is_empty() {
        return Ok(());
    }
    if !user_range(dst.0, buf.len()) {
        return Err(0);
    }
    // SAFETY: `buf` is ours to read for its length; the destination is user memory, written
    // with unprivileged stores (checked against EL0's rights; faults are fixed up), so no
    // kernel memory is written.
    let left = unsafe { rxnu_copyout(buf.as_ptr(), dst.0, buf.len()) };
    if left == 0 { Ok(()) } else { Err(buf.len() - left) }
}

/// Copy a NUL-terminated string of at most `max` bytes (NUL included) from user `src`
/// (current address space) into `out`, without the NUL. Errors: `KERN_INVALID_ADDRESS` for
/// a bad pointer, `KERN_NO_SPACE` if no NUL within `max`, `KERN_RESOURCE_SHORTAGE` if the
/// kernel heap has no room for it.
pub fn copyinstr(src: UserAddr, max: usize, out: &mut alloc::vec::Vec<u8>) -> Result<(), KernReturn> {
    /// Bytes asked for per call: most strings fit in one, and a long budget (exec's) does
    /// not reserve its whole size for every short string.
    const CHUNK: usize = 256;
    copy_may_block();
    out.clear();
    let mut addr = src.0;
    while out.len() < max {
        let want = CHUNK.min(max - out.len());
        if !user_range(addr, 1) {
            return Err(KernReturn::KERN_INVALID_ADDRESS);
        }
        // Up to the top of user space; a string running past it faults there.
        let want = want.min((USER_VM_MAX - addr) as usize);
        out.try_reserve(want).map_err(|_| KernReturn::KERN_RESOURCE_SHORTAGE)?;
        let old = out.len();
        // SAFETY: `out` has room for `want` more bytes past `old` (reserved just now), which
        // is all the routine stores; it reads the user string with unprivileged loads.
        let r = unsafe { rxnu_copyinstr(addr, out.as_mut_ptr().add(old), want) };
        let stored = r.len.min(want);
        // SAFETY: the routine initialised exactly `stored` bytes past `old`.
        unsafe { out.set_len(old + stored) };
        match r.status {
            STR_FOUND_NUL => {
                out.pop();
                return Ok(());
            }
            STR_TOO_LONG => addr += want as u64,
            _ => return Err(KernReturn::KERN_INVALID_ADDRESS),
        }
    }
    Err(KernReturn::KERN_NO_SPACE)
}

/// The kernel address of user `addr` in `map` and how many bytes of its page follow it,
/// after faulting the page in for the access (and breaking copy-on-write for a write): the
/// software path, for maps that are not the current address space.
fn chunk(map: &mut VmMap, addr: u64, want_write: bool) -> Result<(u64, usize), KernReturn> {
    if !is_user_address(addr) {
        return Err(KernReturn::KERN_INVALID_ADDRESS);
    }
    let access = if want_write { VmProt::WRITE } else { VmProt::READ };
    let pa = vm_map_kernel_page(map, addr, access)?;
    let room = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
    Ok((phys_to_virt(pa), room as usize))
}

/// Copy `buf` to user `dst` of `map`, which need not be the current address space (the
/// caller holds it write-locked: `mach_vm_write` into another task, exec's [`FreshMap`]).
/// Walks the map in software and writes through the direct map, faulting pages in as a user
/// write would; nothing here can fault at EL1. On failure, returns how many bytes were
/// copied.
pub fn copyout_to_map(map: &mut VmMap, buf: &[u8], dst: UserAddr) -> Result<(), usize> {
    let mut done = 0;
    while done < buf.len() {
        let addr = dst.offset(done as u64).ok_or(done)?;
        let (kva, room) = chunk(map, addr.0, true).map_err(|_| done)?;
        let n = room.min(buf.len() - done);
        // SAFETY: `kva..kva+n` lies inside one user page of `map` faulted in writable (and
        // private) just now, reached through the direct map, and the exclusive borrow of the
        // map keeps it there; `buf[done..done+n]` is ours. The two cannot overlap (kernel
        // heap vs. a user page).
        unsafe { core::ptr::copy_nonoverlapping(buf[done..].as_ptr(), kva as *mut u8, n) };
        done += n;
    }
    Ok(())
}

/// Why [`FreshMap::copyout_with`] stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FillError<E> {
    /// The destination was not writable user memory after this many bytes.
    Fault(usize),
    /// The fill function failed.
    Fill(E),
}

/// A user address space being built for a new program (exec), before any task has it: it
/// starts empty, only private anonymous memory can be entered into it, and no thread has
/// ever run in it. So nothing but the kernel can see its pages yet, which is what lets
/// [`copyout_with`](FreshMap::copyout_with) lend them out as plain slices. It is not the
/// current address space (TTBR0 still holds the old program's, or another task's), so its
/// copies take the software path — the map walked under its exclusive borrow, the bytes
/// moved through the direct map (a kernel address, so PAN does not mind) — never the MMU
/// routines above.
pub struct FreshMap(VmMap);

impl FreshMap {
    /// An empty map over a new pmap, whose total size is capped at `size_limit` (RLIMIT_AS).
    pub fn new(size_limit: u64) -> Result<FreshMap, KernReturn> {
        let mut map = VmMap::new(crate::arm64::pmap::Pmap::create()?);
        map.set_size_limit(size_limit);
        Ok(FreshMap(map))
    }

    /// `vm_map_enter` of anonymous zero-fill memory (see [`VmMap::enter`]).
    pub fn enter(
        &mut self,
        placement: VmPlacement,
        size: u64,
        cur: VmProt,
        max: VmProt,
        inheritance: VmInherit,
    ) -> Result<u64, KernReturn> {
        self.0.enter(placement, size, 0, cur, max, inheritance)
    }

    /// `vm_protect` (see [`VmMap::protect`]).
    pub fn protect(&mut self, start: u64, end: u64, prot: VmProt) -> Result<(), KernReturn> {
        self.0.protect(start, end, prot, false)
    }

    /// [`copyout_to_map`] into this map (not [`copyout`]: it is not the current address
    /// space, so the MMU cannot reach it).
    pub fn copyout(&mut self, buf: &[u8], dst: UserAddr) -> Result<(), usize> {
        copyout_to_map(&mut self.0, buf, dst)
    }

    /// Fill `len` bytes at `dst` (which must be writable) by calling `fill` with each
    /// piece's offset from `dst` and the piece itself (at most a page, in order): the bytes
    /// go straight into the user pages, with no kernel buffer in between. exec reads a
    /// program's segments from its file this way.
    pub fn copyout_with<E>(
        &mut self,
        dst: UserAddr,
        len: usize,
        mut fill: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
    ) -> Result<(), FillError<E>> {
        let mut done = 0;
        while done < len {
            let addr = dst.offset(done as u64).ok_or(FillError::Fault(done))?;
            let (kva, room) = chunk(&mut self.0, addr.0, true).map_err(|_| FillError::Fault(done))?;
            let n = room.min(len - done);
            // SAFETY: `kva..kva+n` lies inside one user page faulted in writable just now,
            // reached through the direct map, and the exclusive borrow of the map keeps it
            // mapped while `fill` runs. The page belongs to an anonymous private object of
            // a map no thread has run in and no task holds (see `FreshMap`), so nothing else
            // reads or writes it while the slice lives.
            let piece = unsafe { core::slice::from_raw_parts_mut(kva as *mut u8, n) };
            fill(done as u64, piece).map_err(FillError::Fill)?;
            done += n;
        }
        Ok(())
    }

    /// The finished address space, for a task.
    pub fn into_map(self) -> VmMap {
        self.0
    }
}
