//! Memory mapping calls (XNU's `kern_mman.c`): `mmap` of anonymous memory and of files,
//! `munmap`, `mprotect`, `madvise`, `msync` and `minherit`, on top of Mach's `vm_map` (through the
//! same argument layer the `mach_vm_*` traps use). A file is mapped by mapping its VM
//! object — the pages `read` and `write` use (the unified buffer cache) — shared for
//! MAP_SHARED, copy-on-write for MAP_PRIVATE; a fault past the file's end is SIGBUS.

use alloc::sync::Arc;

use mach::KernReturn;
use mach::vm::{VM_FLAGS_ANYWHERE, VM_FLAGS_FIXED, VM_FLAGS_OVERWRITE, VmInherit, VmProt};
use osfmk::vm::user_ptr::UserAddr;
use osfmk::vm::vm_page::PAGE_SIZE;
use osfmk::vm::vm_user;
use sys::Errno;
use sys::mman::*;

use crate::kern::kern_descrip::{DType, FREAD, FWRITE};
use crate::kern::kern_proc::Proc;

/// How the mapping calls report a Mach VM error: XNU's own mapping in `kern_mman.c`, which
/// differs on purpose from the general `From<KernReturn> for Errno` (`mach_to_bsd_errno`):
/// a bad address or no room is ENOMEM here, as POSIX specifies for mmap and friends.
fn errno(kr: KernReturn) -> Errno {
    match kr {
        KernReturn::KERN_INVALID_ADDRESS | KernReturn::KERN_NO_SPACE | KernReturn::KERN_RESOURCE_SHORTAGE => {
            Errno::ENOMEM
        }
        KernReturn::KERN_PROTECTION_FAILURE => Errno::EACCES,
        _ => Errno::EINVAL,
    }
}

fn page_aligned(addr: u64) -> bool {
    addr.is_multiple_of(PAGE_SIZE)
}

/// `mmap(addr, len, prot, flags, fd, pos)`: returns the address mapped.
pub fn mmap(
    p: &Arc<Proc>,
    addr: UserAddr,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    pos: i64,
) -> Result<UserAddr, Errno> {
    if flags & !MAP_KNOWN_FLAGS != 0 || prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 || len == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MAP_SHARED != 0 && flags & MAP_PRIVATE != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MAP_ANON == 0 {
        return mmap_file(p, addr, len, prot, flags, fd, pos);
    }
    // With MAP_ANON, fd is −1 or Mach VM flags (a tag, superpage bits…), nothing else.
    let vm_extra = if fd == -1 { 0 } else { fd as u32 };
    if vm_extra & !MAP_ANON_FD_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let (addr, len) = (addr.0, len as u64);
    let placement = if flags & MAP_FIXED != 0 {
        if !page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE
    } else {
        VM_FLAGS_ANYWHERE
    };
    let cur = VmProt(prot);
    p.task.with_map(|map| {
        let at = vm_user::mach_vm_map(
            map,
            addr,
            len,
            0,
            placement | (vm_extra & 0xFF00_0000),
            cur,
            VmProt::ALL,
            VmInherit::DEFAULT,
        )
        .map_err(errno)?;
        if flags & MAP_SHARED != 0 {
            vm_user::mach_vm_inherit(map, at, len, VmInherit::SHARE.0).map_err(errno)?;
        }
        Ok(UserAddr(at))
    })
}

/// `mmap` of the file open as `fd`, from byte `pos`: XNU's checks in its order — a vnode
/// (a pipe or socket: `EINVAL`), a regular file (a character device: `ENODEV`; another kind:
/// `EINVAL`), open for reading (`EACCES`), and for MAP_SHARED with PROT_WRITE open for writing
/// too (`EACCES`; without it the mapping may never become writable). `pos` need not be page
/// aligned: the mapping starts at its page and the address returned points at `pos`
/// itself (with MAP_FIXED, `addr` must then share `pos`'s offset within the page). The
/// mapping may reach past the file's end; touching a page wholly beyond it is SIGBUS.
fn mmap_file(
    p: &Arc<Proc>,
    addr: UserAddr,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    pos: i64,
) -> Result<UserAddr, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    let vp = match (fg.fg_ops.fo_type(), fg.fg_ops.vnode()) {
        (DType::Vnode, Some(vp)) => vp,
        // The boot console: a character device that has no vnode of its own yet.
        (DType::Vnode, None) => return Err(Errno::ENODEV),
        _ => return Err(Errno::EINVAL),
    };
    let object = vp.ubc_getobject()?;
    let shared = match flags & (MAP_SHARED | MAP_PRIVATE) {
        MAP_SHARED => true,
        MAP_PRIVATE => false,
        // POSIX: a file mapping says which it is.
        _ => return Err(Errno::EINVAL),
    };
    let fflag = fg.flag();
    if fflag & FREAD == 0 {
        return Err(Errno::EACCES);
    }
    // A private mapping may always be written (its pages are its own once written); a
    // shared one only through a descriptor that may write the file.
    let mut max = VmProt::READ.union(VmProt::EXECUTE);
    if !shared || fflag & FWRITE != 0 {
        max = max.union(VmProt::WRITE);
    } else if prot & PROT_WRITE != 0 {
        return Err(Errno::EACCES);
    }
    let pos = u64::try_from(pos).map_err(|_| Errno::EINVAL)?;
    let pageoff = pos % PAGE_SIZE;
    let size = (len as u64).checked_add(pageoff).ok_or(Errno::EINVAL)?;
    let (at, placement) = if flags & MAP_FIXED != 0 {
        let at = addr.0.checked_sub(pageoff).filter(|&a| page_aligned(a)).ok_or(Errno::EINVAL)?;
        (at, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE)
    } else {
        (addr.0, VM_FLAGS_ANYWHERE)
    };
    let inherit = if shared { VmInherit::SHARE } else { VmInherit::DEFAULT };
    p.task.with_map(|map| {
        let start = vm_user::mach_vm_map_object(
            map,
            at,
            size,
            0,
            placement,
            object,
            pos - pageoff,
            !shared,
            VmProt(prot),
            max,
            inherit,
        )
        .map_err(errno)?;
        Ok(UserAddr(start + pageoff))
    })
}

/// `munmap(addr, len)`.
pub fn munmap(p: &Arc<Proc>, addr: UserAddr, len: usize) -> Result<(), Errno> {
    let (addr, len) = (addr.0, len as u64);
    if !page_aligned(addr) || len == 0 || addr.checked_add(len).is_none() {
        return Err(Errno::EINVAL);
    }
    p.task.with_map(|map| vm_user::mach_vm_deallocate(map, addr, len).map_err(errno))
}

/// `mprotect(addr, len, prot)`.
pub fn mprotect(p: &Arc<Proc>, addr: UserAddr, len: usize, prot: i32) -> Result<(), Errno> {
    let (addr, len) = (addr.0, len as u64);
    if !page_aligned(addr) || prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    p.task.with_map(|map| vm_user::mach_vm_protect(map, addr, len, false, prot).map_err(errno))
}

/// `minherit(addr, len, inherit)`.
pub fn minherit(p: &Arc<Proc>, addr: UserAddr, len: usize, inherit: i32) -> Result<(), Errno> {
    let (addr, len) = (addr.0, len as u64);
    let inherit =
        u32::try_from(inherit).ok().filter(|&i| i <= VM_INHERIT_NONE as u32).ok_or(Errno::EINVAL)?;
    p.task.with_map(|map| vm_user::mach_vm_inherit(map, addr, len, inherit).map_err(errno))
}

/// `madvise(addr, len, behav)`: advice is accepted for mapped ranges (nothing is paged
/// out here, so there is nothing to act on yet); unmapped ranges are ENOMEM.
pub fn madvise(p: &Arc<Proc>, addr: UserAddr, len: usize, behav: i32) -> Result<(), Errno> {
    if !(0..=MADV_MAX).contains(&behav) {
        return Err(Errno::EINVAL);
    }
    require_mapped(p, addr, len)
}

/// `msync(addr, len, flags)`: a file's mapped pages are the file's own pages (the unified
/// buffer cache), and the ramfs keeps no other copy, so there is nothing to write back or
/// invalidate — the call checks what XNU's does and succeeds: known flags, not both
/// MS_ASYNC and MS_SYNC (`EINVAL`), a page-aligned address (`EINVAL`), every page mapped
/// (`ENOMEM`).
pub fn msync(p: &Arc<Proc>, addr: UserAddr, len: usize, flags: i32) -> Result<(), Errno> {
    if flags & !MS_KNOWN_FLAGS != 0 || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC {
        return Err(Errno::EINVAL);
    }
    require_mapped(p, addr, len)
}

/// Is every page of `[addr, addr + len)` mapped? `addr` not page aligned or the range
/// wrapping: `EINVAL`; a hole: `ENOMEM`.
fn require_mapped(p: &Arc<Proc>, addr: UserAddr, len: usize) -> Result<(), Errno> {
    let (addr, len) = (addr.0, len as u64);
    if !page_aligned(addr) {
        return Err(Errno::EINVAL);
    }
    let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
    p.task.with_map(|map| {
        let mut at = addr;
        while at < end {
            let region = map.region(at).map_err(|_| Errno::ENOMEM)?;
            if region.start > at {
                return Err(Errno::ENOMEM);
            }
            at = region.start + region.size;
        }
        Ok(())
    })
}
