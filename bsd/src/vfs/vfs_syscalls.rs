//! The file system calls (XNU's `vfs_syscalls.c`): each copies its arguments in, asks the
//! VFS, and hands back a descriptor or an error. So far: `open`, and the path copy-in every
//! call that takes a path shares.
//!
//! Paths are looked up from the root: processes have no current directory yet, so a relative
//! path means the same as an absolute one (as posix_spawn's open actions already treat it).

use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::KernReturn;
use osfmk::arm64::copyio::{UserAddr, copyinstr};
use sys::Errno;
use sys::fcntl::O_CLOEXEC;

use crate::kern::bsd_init::rootvnode;
use crate::kern::kern_descrip::{FP_CLOEXEC, FileProc};
use crate::kern::kern_proc::Proc;
use crate::vfs::MAXPATHLEN;
use crate::vfs::vfs_vnops::vn_open;

/// Copies in the NUL-terminated path at user `addr`. Longer than [`MAXPATHLEN`] with its
/// NUL: `ENAMETOOLONG`; a bad pointer: `EFAULT`; empty: `ENOENT` (POSIX). `p` is the
/// calling process, whose memory is the current address space.
pub fn copyin_path(p: &Proc, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    if p.task.map.is_none() {
        return Err(Errno::EFAULT);
    }
    let mut path = Vec::new();
    copyinstr(addr, MAXPATHLEN, &mut path)
        .map_err(|kr| if kr == KernReturn::KERN_NO_SPACE { Errno::ENAMETOOLONG } else { Errno::EFAULT })?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(path)
}

/// `open(path, flags, mode)`: the lowest free descriptor on a new open file description.
/// `flags` and `mode` are `int`s; only the `O_*` bits and the 16 bits of a `mode_t` count.
pub fn open(p: &Arc<Proc>, path: UserAddr, flags: i32, mode: i32) -> Result<usize, Errno> {
    let (oflag, mode) = (flags as u32, mode as u16);
    let path = copyin_path(p, path)?;
    let root = rootvnode().ok_or(Errno::ENOENT)?;
    let root_user = p.p_ucred.lock().uid == 0;
    let glob = vn_open(&root, &root, &path, oflag, mode, root_user)?;
    let fp_flags = if oflag & O_CLOEXEC != 0 { FP_CLOEXEC } else { 0 };
    p.p_fd.lock().alloc(FileProc { fp_flags, fp_glob: glob })
}
