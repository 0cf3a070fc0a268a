//! The file system calls (XNU's `vfs_syscalls.c`): each copies its arguments in, asks the
//! VFS, and hands back a descriptor or an error. So far: `open`; the working-directory calls
//! `chdir`, `fchdir`, `__pthread_chdir`, `__pthread_fchdir` and `chroot`; and the path copy-in
//! every call that takes a path shares.
//!
//! Every lookup is made in the caller's [`VfsContext`] (`Proc::vfs_context`): relative paths
//! start at the calling thread's working directory (its own, after `__pthread_chdir`, or
//! the process's), absolute ones at the process's root.

use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::KernReturn;
use osfmk::arm64::copyio::{UserAddr, copyinstr};
use sys::Errno;
use sys::fcntl::O_CLOEXEC;

use crate::kern::kern_descrip::{FP_CLOEXEC, FileProc};
use crate::kern::kern_proc::{Proc, uthread};
use crate::vfs::MAXPATHLEN;
use crate::vfs::vfs_lookup::{VfsContext, namei};
use crate::vfs::vfs_vnops::vn_open;
use crate::vfs::vnode::{VEXEC, VType, VnodeRef};
use osfmk::kern::sched_prim::current_thread;

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
    let ctx = p.vfs_context()?;
    let glob = vn_open(&ctx, &path, oflag, mode)?;
    let fp_flags = if oflag & O_CLOEXEC != 0 { FP_CLOEXEC } else { 0 };
    p.p_fd.lock().alloc(FileProc { fp_flags, fp_glob: glob })
}

/// A directory the caller may make its working or root directory: a directory
/// (`ENOTDIR`) it may search (`EACCES`), as XNU's `chdir_internal` and `fchdir` check.
/// A directory with a file system mounted on it stands for that file system's root.
pub(crate) fn searchable_dir(ctx: &VfsContext, vp: VnodeRef) -> Result<VnodeRef, Errno> {
    if vp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    vp.authorize(&ctx.cred, VEXEC)?;
    let mut vp = vp;
    while let Some(mp) = vp.mountedhere() {
        vp = mp.root().clone();
    }
    Ok(vp)
}

/// The directory at user path `path`, looked up in the caller's context and checked by
/// [`searchable_dir`].
fn lookup_dir(p: &Proc, path: UserAddr) -> Result<VnodeRef, Errno> {
    let path = copyin_path(p, path)?;
    let ctx = p.vfs_context()?;
    let vp = namei(&ctx, &path, true)?;
    searchable_dir(&ctx, vp)
}

/// The directory open on descriptor `fd`: not open `EBADF`; open on something other than a
/// vnode (a pipe, the console as it is today) `EINVAL`, as XNU's `file_vnode_withvid`
/// answers for `fchdir`.
fn fd_dir(p: &Proc, fd: i32) -> Result<VnodeRef, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    let vp = fg.fg_ops.vnode().ok_or(Errno::EINVAL)?;
    searchable_dir(&p.vfs_context()?, vp)
}

/// `chdir(path)`: the process's working directory becomes `path`.
pub fn chdir(p: &Proc, path: UserAddr) -> Result<(), Errno> {
    let vp = lookup_dir(p, path)?;
    p.p_fd_dirs.write().cdir = Some(vp);
    Ok(())
}

/// `fchdir(fd)`: the process's working directory becomes the directory open on `fd`.
pub fn fchdir(p: &Proc, fd: i32) -> Result<(), Errno> {
    let vp = fd_dir(p, fd)?;
    p.p_fd_dirs.write().cdir = Some(vp);
    Ok(())
}

/// `__pthread_chdir(path)`: the calling thread's own working directory becomes `path`; the
/// process's, and every other thread's, stay.
pub fn pthread_chdir(p: &Proc, path: UserAddr) -> Result<(), Errno> {
    let vp = lookup_dir(p, path)?;
    *uthread(&current_thread()).uu_cdir.write() = Some(vp);
    Ok(())
}

/// `__pthread_fchdir(fd)`: as [`pthread_chdir`] for the directory open on `fd`. `fd` = −1
/// drops the thread's own working directory, so it uses the process's again: `EBADF` if it
/// had none, as in XNU.
pub fn pthread_fchdir(p: &Proc, fd: i32) -> Result<(), Errno> {
    if fd == -1 {
        return match uthread(&current_thread()).uu_cdir.write().take() {
            Some(_) => Ok(()),
            None => Err(Errno::EBADF),
        };
    }
    let vp = fd_dir(p, fd)?;
    *uthread(&current_thread()).uu_cdir.write() = Some(vp);
    Ok(())
}

/// `chroot(path)`: absolute paths of the process start at `path` from now on, and `..`
/// stops there. Root only (`EPERM`, checked before the path is looked at); the working
/// directory stays where it is, as in XNU.
pub fn chroot(p: &Proc, path: UserAddr) -> Result<(), Errno> {
    if p.p_ucred.lock().uid != 0 {
        return Err(Errno::EPERM);
    }
    let vp = lookup_dir(p, path)?;
    p.p_fd_dirs.write().rdir = Some(vp);
    Ok(())
}
