//! copyin / copyout / copyinstr: the only way the kernel touches user memory.
//!
//! A user address is checked against the user range and resolved page by page through the
//! task's `vm_map` — faulting in lazily allocated pages and breaking copy-on-write as a user
//! access would — and the bytes are moved through the direct map. Nothing here can fault at
//! EL1: an unmapped or kernel address is simply an error, so bad pointers from user space
//! can never crash the kernel (and PAN has nothing to catch).

use mach::KernReturn;

use mach::vm::{VmInherit, VmProt};

use crate::arm64::pmap::{USER_VM_MAX, USER_VM_MIN, phys_to_virt};
use crate::vm::vm_fault::vm_map_kernel_page;
use crate::vm::vm_map::{VmMap, VmPlacement};
use crate::vm::vm_page::PAGE_SIZE;

/// A user virtual address. Only copyio turns it into memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAddr(pub u64);

impl UserAddr {
    /// `self + n`, or None on overflow.
    pub fn offset(self, n: u64) -> Option<UserAddr> {
        self.0.checked_add(n).map(UserAddr)
    }
}

/// The kernel address of user `addr` and how many bytes of its page follow it, after
/// faulting the page in for the access (and breaking copy-on-write for a write).
fn chunk(map: &mut VmMap, addr: u64, want_write: bool) -> Result<(u64, usize), KernReturn> {
    if !(USER_VM_MIN..USER_VM_MAX).contains(&addr) {
        return Err(KernReturn::KERN_INVALID_ADDRESS);
    }
    let access = if want_write { VmProt::WRITE } else { VmProt::READ };
    let pa = vm_map_kernel_page(map, addr, access)?;
    let room = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
    Ok((phys_to_virt(pa), room as usize))
}

/// Copy `buf.len()` bytes from user `src`. On failure, returns how many bytes were copied.
pub fn copyin(map: &mut VmMap, src: UserAddr, buf: &mut [u8]) -> Result<(), usize> {
    let mut done = 0;
    while done < buf.len() {
        let addr = src.offset(done as u64).ok_or(done)?;
        let (kva, room) = chunk(map, addr.0, false).map_err(|_| done)?;
        let n = room.min(buf.len() - done);
        // SAFETY: `kva..kva+n` lies inside one mapped user page, reached through the
        // direct map; `buf[done..done+n]` is ours. The regions cannot overlap (kernel heap
        // vs. a user page).
        unsafe { core::ptr::copy_nonoverlapping(kva as *const u8, buf[done..].as_mut_ptr(), n) };
        done += n;
    }
    Ok(())
}

/// Copy `buf` to user `dst` (which must be writable). On failure, returns bytes copied.
pub fn copyout(map: &mut VmMap, buf: &[u8], dst: UserAddr) -> Result<(), usize> {
    let mut done = 0;
    while done < buf.len() {
        let addr = dst.offset(done as u64).ok_or(done)?;
        let (kva, room) = chunk(map, addr.0, true).map_err(|_| done)?;
        let n = room.min(buf.len() - done);
        // SAFETY: as in `copyin`, with the page faulted in writable (and private).
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
/// [`copyout_with`](FreshMap::copyout_with) lend them out as plain slices.
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

    /// [`copyout`] into this map.
    pub fn copyout(&mut self, buf: &[u8], dst: UserAddr) -> Result<(), usize> {
        copyout(&mut self.0, buf, dst)
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

/// Copy a NUL-terminated string of at most `max` bytes (NUL included) into `out`.
/// Errors: `KERN_INVALID_ADDRESS` for a bad pointer, `KERN_NO_SPACE` if no NUL within `max`.
pub fn copyinstr(
    map: &mut VmMap,
    src: UserAddr,
    max: usize,
    out: &mut alloc::vec::Vec<u8>,
) -> Result<(), KernReturn> {
    out.clear();
    let mut addr = src;
    while out.len() < max {
        let (kva, room) = chunk(map, addr.0, false)?;
        let n = room.min(max - out.len());
        for i in 0..n {
            // SAFETY: `kva + i` is inside one mapped user page (see `copyin`).
            let b = unsafe { (kva as *const u8).add(i).read() };
            if b == 0 {
                return Ok(());
            }
            out.push(b);
        }
        addr = addr.offset(n as u64).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    }
    Err(KernReturn::KERN_NO_SPACE)
}
