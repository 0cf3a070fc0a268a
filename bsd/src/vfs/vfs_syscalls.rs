//! The file system calls (XNU's `vfs_syscalls.c`): each copies its arguments in, asks the
//! VFS, and hands back a descriptor or an error. So far: `open`, `mkdir`, `unlink`, `rmdir`,
//! `rename`, the `stat64` family, `lseek` and `getdirentries64`; the working-directory calls
//! `chdir`, `fchdir`, `__pthread_chdir`, `__pthread_fchdir` and `chroot`; the attribute and
//! link calls; `truncate`/`ftruncate`, `flock`, and the file system statistics
//! (`statfs64`, `fstatfs64`, `getfsstat64`); `mount` and `unmount`; and the path copy-in
//! every call that takes a path shares.
//!
//! Every lookup is made in the caller's [`VfsContext`] (`Proc::vfs_context`): relative paths
//! start at the calling thread's working directory (its own, after `__pthread_chdir`, or
//! the process's), absolute ones at the process's root.

use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::KernReturn;
use osfmk::arm64::copyio::{UserAddr, copyinstr};
use osfmk::vm::user_ptr::{UserPtr, UserSlice};
use sys::Errno;
use sys::fcntl::{
    AT_EACCESS, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, AT_SYMLINK_NOFOLLOW_ANY,
    O_CLOEXEC, R_OK, SEEK_CUR, SEEK_END, SEEK_SET, W_OK, X_OK,
};
use sys::stat::{
    ACCESSPERMS, ALLPERMS, DIRENTRY_NAME_OFFSET, GETDIRENTRIES64_EOF, GETDIRENTRIES64_EXTENDED_BUFSIZE,
    S_BLKSIZE, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_ISGID, S_ISUID, S_ISVTX, Stat64, Timespec,
    direntry_reclen, iftodt,
};

use crate::kern::kern_descrip::{DType, FP_CLOEXEC, FREAD, FWRITE, FileProc};
use crate::kern::kern_proc::{Proc, uthread};
use crate::kern::kern_sendsig::SigOrigin;
use crate::vfs::MAXPATHLEN;
use crate::vfs::vfs_lookup::{VfsContext, lookup_parent, namei};
use crate::vfs::vfs_mount::{MountRef, dounmount, mount_common, mountlist, vnode_mount};
use crate::vfs::vfs_vnops::{VN_BLKSIZE, vn_flock, vn_open};
use crate::vfs::vnode::{KauthCred, VEXEC, VREAD, VType, VWRITE, VnodeRef, VnodeUse, vfs_timestamp};
use osfmk::kern::sched_prim::current_thread;
use sys::mount::{MFSTYPENAMELEN, Statfs};
use sys::resource::RLIMIT_FSIZE;
use sys::signal::SIGXFSZ;
use sys::time::Timeval;

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

/// The context a call with directory argument `dirfd` and path `path` looks up in (XNU's
/// `nameiat`): the caller's own for an absolute path or [`AT_FDCWD`]; otherwise relative
/// lookups start at the directory open on `dirfd` (`EBADF` if none is open there,
/// `ENOTDIR` if it is not a directory).
pub fn ctx_at(p: &Proc, dirfd: i32, path: &[u8]) -> Result<VfsContext, Errno> {
    let mut ctx = p.vfs_context()?;
    if dirfd != AT_FDCWD && path.first() != Some(&b'/') {
        let fg = p.p_fd.lock().get(dirfd)?;
        let vp = fg.fg_ops.vnode().ok_or(Errno::ENOTDIR)?;
        if vp.vtype() != VType::VDIR {
            return Err(Errno::ENOTDIR);
        }
        ctx.cdir = vp;
    }
    Ok(ctx)
}

/// Copies in `path` and finds the context to look it up in ([`ctx_at`]).
fn path_at(p: &Proc, dirfd: i32, path: UserAddr) -> Result<(Vec<u8>, VfsContext), Errno> {
    let path = copyin_path(p, path)?;
    let ctx = ctx_at(p, dirfd, &path)?;
    Ok((path, ctx))
}

/// `openat(dirfd, path, flags, mode)` (and `open`, at [`AT_FDCWD`]): the lowest free
/// descriptor on a new open file description. `flags` and `mode` are `int`s; only the `O_*`
/// bits and the 16 bits of a `mode_t` count.
pub fn openat(p: &Arc<Proc>, dirfd: i32, path: UserAddr, flags: i32, mode: i32) -> Result<usize, Errno> {
    let (oflag, mode) = (flags as u32, mode as u16);
    let (path, ctx) = path_at(p, dirfd, path)?;
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
    let vp = VnodeUse::new(lookup_dir(p, path)?);
    p.p_fd_dirs.write().cdir = Some(vp);
    Ok(())
}

/// `fchdir(fd)`: the process's working directory becomes the directory open on `fd`.
pub fn fchdir(p: &Proc, fd: i32) -> Result<(), Errno> {
    let vp = VnodeUse::new(fd_dir(p, fd)?);
    p.p_fd_dirs.write().cdir = Some(vp);
    Ok(())
}

/// `__pthread_chdir(path)`: the calling thread's own working directory becomes `path`; the
/// process's, and every other thread's, stay.
pub fn pthread_chdir(p: &Proc, path: UserAddr) -> Result<(), Errno> {
    let vp = VnodeUse::new(lookup_dir(p, path)?);
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
    let vp = VnodeUse::new(fd_dir(p, fd)?);
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
    let vp = VnodeUse::new(lookup_dir(p, path)?);
    p.p_fd_dirs.write().rdir = Some(vp);
    Ok(())
}

/// `struct stat64` for vnode `vp` (XNU's `vn_stat`): its type and mode, owner, links, the
/// four times, size and the device number of a device node.
pub fn vn_stat(vp: &VnodeRef) -> Stat64 {
    let size = vp.size();
    let is_dir = vp.vtype() == VType::VDIR;
    let times = vp.times();
    Stat64 {
        // The file system's number, as `f_fsid` reports it first.
        st_dev: vp.fsid() as i32,
        st_mode: vp.mode(),
        st_nlink: vp.nlink().min(u32::from(u16::MAX)) as u16,
        st_atimespec: times.atime,
        st_mtimespec: times.mtime,
        st_ctimespec: times.ctime,
        st_birthtimespec: times.birthtime,
        st_rdev: vp.rdev() as i32,
        st_ino: vp.fileid(),
        st_uid: vp.uid(),
        st_gid: vp.gid(),
        // A directory's size is its entry count here; stat reports it as bytes of records.
        st_size: if is_dir { (size * 32) as i64 } else { size as i64 },
        st_blocks: size.div_ceil(S_BLKSIZE) as i64,
        st_blksize: VN_BLKSIZE as i32,
        ..Stat64::default()
    }
}

/// Writes `st` to user `ub`.
fn copyout_stat(ub: UserAddr, st: &Stat64) -> Result<(), Errno> {
    UserPtr::<Stat64>::new(ub.0)?.write(st)?;
    Ok(())
}

/// `fstatat64(dirfd, path, ub, flag)`, and `stat64`/`lstat64` at [`AT_FDCWD`]: the file at
/// `path` (a final symbolic link followed unless `flag` has [`AT_SYMLINK_NOFOLLOW`]). Other
/// flags: `EINVAL`.
pub fn fstatat64(p: &Proc, dirfd: i32, path: UserAddr, ub: UserAddr, flag: i32) -> Result<(), Errno> {
    if flag & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let (path, ctx) = path_at(p, dirfd, path)?;
    let vp = namei(&ctx, &path, flag & AT_SYMLINK_NOFOLLOW == 0)?;
    copyout_stat(ub, &vn_stat(&vp))
}

/// `fstat64(fd, ub)`: a vnode's full description, or what another kind of file says of
/// itself (`fo_stat`).
pub fn fstat64(p: &Proc, fd: i32, ub: UserAddr) -> Result<(), Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    let st = match fg.fg_ops.vnode() {
        Some(vp) => {
            // A revoked file has no attributes left (deadfs's getattr).
            vp.require_alive()?;
            vn_stat(&vp)
        }
        None => {
            let s = fg.fg_ops.fo_stat()?;
            Stat64 {
                st_mode: s.st_mode,
                st_nlink: 1,
                st_size: s.st_size as i64,
                st_blksize: s.st_blksize as i32,
                ..Stat64::default()
            }
        }
    };
    copyout_stat(ub, &st)
}

/// `lseek(fd, offset, whence)`: the description's new offset, from the start (`SEEK_SET`),
/// the current offset (`SEEK_CUR`) or the end (`SEEK_END`); past the end is allowed, before
/// the start is `EINVAL`, as is another `whence`. Only vnodes seek: anything else `ESPIPE`.
pub fn lseek(p: &Proc, fd: i32, offset: i64, whence: i32) -> Result<u64, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    let vp = fg.fg_ops.vnode().ok_or(Errno::ESPIPE)?;
    if vp.vtype() == VType::VFIFO {
        return Err(Errno::ESPIPE);
    }
    let mut off = fg.offset_lock();
    let base = match whence {
        SEEK_SET => 0,
        SEEK_CUR => *off as i64,
        SEEK_END => vp.size() as i64,
        _ => return Err(Errno::EINVAL),
    };
    let new = base.checked_add(offset).filter(|&n| n >= 0).ok_or(Errno::EINVAL)?;
    *off = new as u64;
    Ok(new as u64)
}

/// `getdirentries64(fd, buf, bufsize, position)`: directory records (`struct direntry`) from
/// the directory open on `fd`, starting at the description's offset (an entry index: `.`,
/// `..`, then the entries in order), as many whole records as fit. `*position` gets the
/// offset the read started at; the description's offset moves past the records. A buffer
/// of 1024 bytes or more ends with a flags word (`GETDIRENTRIES64_EOF` once the end is
/// reached) the records do not use. Not a directory: `ENOTDIR`; no room for one record:
/// `EINVAL`. Returns the bytes of records.
pub fn getdirentries64(
    p: &Proc,
    fd: i32,
    buf: UserAddr,
    bufsize: usize,
    position: UserAddr,
) -> Result<usize, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    if fg.flag() & FREAD == 0 {
        return Err(Errno::EBADF);
    }
    let dvp = fg.fg_ops.vnode().ok_or(Errno::ENOTDIR)?;
    if dvp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    let position = UserPtr::<i64>::new(position.0)?;
    let out = UserSlice::new(buf.0, bufsize)?;
    let room = if bufsize >= GETDIRENTRIES64_EXTENDED_BUFSIZE { bufsize - 4 } else { bufsize };
    let parent = dvp.parent().unwrap_or_else(|| dvp.clone());
    let entries = dvp.readdir()?;
    let mut off = fg.offset_lock();
    let start = *off;
    let mut index = start;
    let mut records: Vec<u8> = Vec::new();
    let total = 2 + entries.len() as u64;
    while index < total {
        let (name, ino, mode): (&[u8], u64, u16) = match index {
            0 => (b".", dvp.fileid(), S_IFDIR),
            1 => (b"..", parent.fileid(), S_IFDIR),
            i => {
                let e = &entries[(i - 2) as usize];
                // The number of an entry removed since the listing is 0... never: a
                // missing one is skipped.
                let Ok(vp) = dvp.lookup(&e.name) else {
                    index += 1;
                    continue;
                };
                (&e.name, vp.fileid(), e.vtype.mode_bits())
            }
        };
        let reclen = direntry_reclen(name.len());
        if records.len() + reclen > room {
            break;
        }
        let at = records.len();
        records.resize(at + reclen, 0);
        let rec = &mut records[at..];
        rec[0..8].copy_from_slice(&ino.to_le_bytes());
        rec[8..16].copy_from_slice(&(index + 1).to_le_bytes());
        rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        rec[18..20].copy_from_slice(&(name.len() as u16).to_le_bytes());
        rec[20] = iftodt(mode);
        rec[DIRENTRY_NAME_OFFSET..DIRENTRY_NAME_OFFSET + name.len()].copy_from_slice(name);
        index += 1;
    }
    if records.is_empty() && index < total {
        return Err(Errno::EINVAL);
    }
    out.write_at(0, &records)?;
    if bufsize >= GETDIRENTRIES64_EXTENDED_BUFSIZE {
        let flags = if index >= total { GETDIRENTRIES64_EOF } else { 0 };
        out.write_at(bufsize - 4, &flags.to_le_bytes())?;
    }
    position.write(&(start as i64))?;
    *off = index;
    Ok(records.len())
}

/// `mkdirat(dirfd, path, mode)`, and `mkdir` at [`AT_FDCWD`]: a new directory, with the mode's permission bits less the umask's,
/// owned by the caller and its parent directory's group. The name taken: `EEXIST`; the
/// parent not writable and searchable: `EACCES`.
pub fn mkdirat(p: &Proc, dirfd: i32, path: UserAddr, mode: i32) -> Result<(), Errno> {
    let (path, ctx) = path_at(p, dirfd, path)?;
    let (dvp, name) = lookup_parent(&ctx, &path)?;
    crate::vfs::vfs_vnops::vn_authorize_add(&dvp, &ctx.cred)?;
    let vp = dvp.mkdir(&name, mode as u16 & ALLPERMS & !ctx.cmask)?;
    vp.set_owner(ctx.cred.uid, vp.gid());
    Ok(())
}

/// `mkfifoat(dirfd, path, mode)`, and `mkfifo` at [`AT_FDCWD`]: a FIFO with permissions
/// `mode & 07777 & ~umask`, owned by the caller. Needs write and search permission on the
/// directory (no privilege); an existing name: `EEXIST`.
pub fn mkfifoat(p: &Proc, dirfd: i32, path: UserAddr, mode: i32) -> Result<(), Errno> {
    let (path, ctx) = path_at(p, dirfd, path)?;
    make_special(&ctx, &path, VType::VFIFO, mode, 0)
}

/// `mknodat(dirfd, path, mode, dev)`, and `mknod` at [`AT_FDCWD`] (XNU's `mknodat`): a
/// FIFO when `mode`'s type is `S_IFIFO` (as `mkfifo`, for anyone); a character or block
/// device node for device `dev` — root only, else `EPERM` before the path is looked at;
/// any other type: `EPERM` for others, `EINVAL` for root once the name is known to be free.
pub fn mknodat(p: &Proc, dirfd: i32, path: UserAddr, mode: i32, dev: i32) -> Result<(), Errno> {
    let (path, ctx) = path_at(p, dirfd, path)?;
    let vtype = match mode as u16 & S_IFMT {
        S_IFIFO => return make_special(&ctx, &path, VType::VFIFO, mode, 0),
        S_IFCHR => VType::VCHR,
        S_IFBLK => VType::VBLK,
        _ => VType::VNON,
    };
    if ctx.cred.uid != 0 {
        return Err(Errno::EPERM);
    }
    if vtype == VType::VNON {
        let (dvp, name) = lookup_parent(&ctx, &path)?;
        return match dvp.lookup(&name) {
            Ok(_) => Err(Errno::EEXIST),
            Err(_) => Err(Errno::EINVAL),
        };
    }
    make_special(&ctx, &path, vtype, mode, dev as u32)
}

/// Makes special file `path` of `vtype` (see [`mknodat`]), owned by the caller.
fn make_special(ctx: &VfsContext, path: &[u8], vtype: VType, mode: i32, rdev: u32) -> Result<(), Errno> {
    let (dvp, name) = lookup_parent(ctx, path)?;
    if name.is_empty() || dvp.lookup(&name).is_ok() {
        return Err(Errno::EEXIST);
    }
    crate::vfs::vfs_vnops::vn_authorize_add(&dvp, &ctx.cred)?;
    let vp = dvp.mknod(&name, vtype, mode as u16 & ALLPERMS & !ctx.cmask, rdev)?;
    vp.set_owner(ctx.cred.uid, dvp.gid());
    Ok(())
}

/// May the caller take entry `vp` out of directory `dvp`? It needs write and search
/// permission on the directory; in a sticky directory (`S_ISVTX`, as /tmp is) it must also
/// own the directory or the entry, unless it is root — else `EPERM`, as Darwin's unlink(2)
/// and rename(2) say.
fn vn_authorize_delete(ctx: &VfsContext, dvp: &VnodeRef, vp: &VnodeRef) -> Result<(), Errno> {
    crate::vfs::vfs_vnops::vn_authorize_add(dvp, &ctx.cred)?;
    let uid = ctx.cred.uid;
    if dvp.mode() & S_ISVTX != 0 && uid != 0 && uid != dvp.uid() && uid != vp.uid() {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The entry `name` of `dvp`, for a call about to remove or replace it. A name of `.` or
/// `..` is left to the vnode's checks.
fn entry_of(dvp: &VnodeRef, name: &[u8]) -> Result<VnodeRef, Errno> {
    if name.is_empty() {
        // The path was `/`: the root is busy.
        return Err(Errno::EBUSY);
    }
    dvp.lookup(name)
}

/// `unlinkat(dirfd, path, flag)`, and `unlink`/`rmdir` at [`AT_FDCWD`]: the name goes (a
/// directory's with [`AT_REMOVEDIR`]); the file lives on while it is open. A mount point or
/// a file system's root cannot be removed (`EBUSY`). Other flags: `EINVAL`.
pub fn unlinkat(p: &Proc, dirfd: i32, path: UserAddr, flag: i32) -> Result<(), Errno> {
    if flag & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let dir = flag & AT_REMOVEDIR != 0;
    let (path, ctx) = path_at(p, dirfd, path)?;
    let (dvp, name) = lookup_parent(&ctx, &path)?;
    if !matches!(&name[..], b"." | b"..") {
        let vp = entry_of(&dvp, &name)?;
        if vp.mountedhere().is_some() || vp.root_of().is_some() {
            return Err(Errno::EBUSY);
        }
        vn_authorize_delete(&ctx, &dvp, &vp)?;
    }
    dvp.remove(&name, dir).map(drop)
}

/// `renameat(fromfd, from, tofd, to)`, and `rename` at [`AT_FDCWD`]: the entry `from` takes
/// the name `to`, replacing what `to` named (see `Vnode::rename` for the rules). Across file
/// systems: `EXDEV`.
pub fn renameat(p: &Proc, fromfd: i32, from: UserAddr, tofd: i32, to: UserAddr) -> Result<(), Errno> {
    let (from, fctx) = path_at(p, fromfd, from)?;
    let (to, ctx) = path_at(p, tofd, to)?;
    let (fdvp, fname) = lookup_parent(&fctx, &from)?;
    let (tdvp, tname) = lookup_parent(&ctx, &to)?;
    if fname.is_empty() || tname.is_empty() {
        return Err(Errno::EBUSY);
    }
    if !matches!(&fname[..], b"." | b"..") {
        let vp = entry_of(&fdvp, &fname)?;
        if vp.mountedhere().is_some() || vp.root_of().is_some() {
            return Err(Errno::EBUSY);
        }
        vn_authorize_delete(&ctx, &fdvp, &vp)?;
        match tdvp.lookup(&tname) {
            Ok(old) => vn_authorize_delete(&ctx, &tdvp, &old)?,
            Err(_) => crate::vfs::vfs_vnops::vn_authorize_add(&tdvp, &ctx.cred)?,
        }
    }
    fdvp.rename(&fname, &tdvp, &tname)
}

/// `umask(newmask)`: the process's file-creation mask becomes `newmask & 07777`; returns the
/// mask before.
pub fn umask(p: &Proc, newmask: i32) -> u16 {
    let mut dirs = p.p_fd_dirs.write();
    core::mem::replace(&mut dirs.fd_cmask, newmask as u16 & ALLPERMS)
}

/// `faccessat(dirfd, path, amode, flag)`, and `access` at [`AT_FDCWD`] with no flag: may the
/// caller read (`R_OK`), write (`W_OK`) or execute/search (`X_OK`) the file, or does it
/// exist (`F_OK`)? Asked with the real ids, as a set-id program needs it, unless `flag`
/// has [`AT_EACCESS`]. `faccessat` flags other than `AT_EACCESS` and the two no-follow flags:
/// `EINVAL`; `access` never validates its mode, as in XNU. Writing to a file of a read-only
/// file system would be `EROFS`; none is read-only yet.
pub fn faccessat(
    p: &Proc,
    dirfd: i32,
    path: UserAddr,
    amode: i32,
    flag: i32,
    check_flags: bool,
) -> Result<(), Errno> {
    if check_flags && flag & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_SYMLINK_NOFOLLOW_ANY) != 0 {
        return Err(Errno::EINVAL);
    }
    let (path, mut ctx) = path_at(p, dirfd, path)?;
    if flag & AT_EACCESS == 0 {
        let cred = p.p_ucred.lock();
        ctx.cred = KauthCred { groups: cred.groups, ..KauthCred::new(cred.ruid, cred.rgid) };
    }
    let vp = namei(&ctx, &path, flag & AT_SYMLINK_NOFOLLOW == 0)?;
    let want = (if amode & R_OK != 0 { VREAD } else { 0 })
        | (if amode & W_OK != 0 { VWRITE } else { 0 })
        | (if amode & X_OK != 0 { VEXEC } else { 0 });
    if want == 0 { Ok(()) } else { vp.authorize(&ctx.cred, want) }
}

/// May the caller change `vp`'s attributes (mode, owner, explicit times)? Only its owner or
/// root (`EPERM`), as BSD's `vnode_authattr` decides.
fn owner_or_root(ctx: &VfsContext, vp: &VnodeRef) -> Result<(), Errno> {
    if ctx.cred.uid == 0 || ctx.cred.uid == vp.uid() { Ok(()) } else { Err(Errno::EPERM) }
}

/// Sets `vp`'s permission bits to `mode & 07777` for `ctx` (XNU's `chmod_vnode`): only the
/// owner or root (`EPERM`). For anyone but root, the sticky bit on a file that is not a
/// directory is `EFTYPE`, and set-group-id on a file of a group the caller is not in is
/// dropped, as BSD does.
fn vn_chmod(ctx: &VfsContext, vp: &VnodeRef, mode: i32) -> Result<(), Errno> {
    owner_or_root(ctx, vp)?;
    let mut perm = mode as u16 & ALLPERMS;
    if ctx.cred.uid != 0 {
        if perm & S_ISVTX != 0 && vp.vtype() != VType::VDIR {
            return Err(Errno::EFTYPE);
        }
        if perm & S_ISGID != 0 && !ctx.cred.groups.member(ctx.cred.gid, vp.gid()) {
            perm &= !S_ISGID;
        }
    }
    vp.chmod(perm);
    Ok(())
}

/// `fchmodat(dirfd, path, mode, flag)`, and `chmod` at [`AT_FDCWD`]: see [`vn_chmod`]. A
/// flag other than [`AT_SYMLINK_NOFOLLOW`]: `EINVAL`.
pub fn fchmodat(p: &Proc, dirfd: i32, path: UserAddr, mode: i32, flag: i32) -> Result<(), Errno> {
    if flag & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let (path, ctx) = path_at(p, dirfd, path)?;
    let vp = namei(&ctx, &path, flag & AT_SYMLINK_NOFOLLOW == 0)?;
    vn_chmod(&ctx, &vp, mode)
}

/// The vnode open on `fd` (a pipe or another file without one: `EINVAL`... as XNU's
/// `file_vnode` callers answer; see each call).
fn fd_vnode(p: &Proc, fd: i32, not_vnode: Errno) -> Result<VnodeRef, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    fg.fg_ops.vnode().ok_or(not_vnode)
}

/// `fchmod(fd, mode)`: see [`vn_chmod`]. Not a vnode (a pipe): `EINVAL`.
pub fn fchmod(p: &Proc, fd: i32, mode: i32) -> Result<(), Errno> {
    let vp = fd_vnode(p, fd, Errno::EINVAL)?;
    vn_chmod(&p.vfs_context()?, &vp, mode)
}

/// Gives `vp` owner `uid` and group `gid` for `ctx` (−1: unchanged), as BSD's `chown`
/// rules go: root may give any; the owner may only set the group to one it is in and keep
/// the owner (`EPERM` otherwise). Anyone but root loses the set-user-id and set-group-id
/// bits in the change.
fn vn_chown(ctx: &VfsContext, vp: &VnodeRef, uid: u32, gid: u32) -> Result<(), Errno> {
    const UNCHANGED: u32 = u32::MAX;
    let new_uid = if uid == UNCHANGED { vp.uid() } else { uid };
    let new_gid = if gid == UNCHANGED { vp.gid() } else { gid };
    if ctx.cred.uid != 0 {
        owner_or_root(ctx, vp)?;
        let group_ok = new_gid == vp.gid() || ctx.cred.groups.member(ctx.cred.gid, new_gid);
        if new_uid != vp.uid() || !group_ok {
            return Err(Errno::EPERM);
        }
        if new_uid != vp.uid() || new_gid != vp.gid() {
            vp.chmod(vp.mode() & ALLPERMS & !(S_ISUID | S_ISGID));
        }
    }
    vp.set_owner(new_uid, new_gid);
    Ok(())
}

/// `fchownat(dirfd, path, uid, gid, flag)`, and `chown`/`lchown` at [`AT_FDCWD`]: see
/// [`vn_chown`]. A flag other than [`AT_SYMLINK_NOFOLLOW`]: `EINVAL`.
pub fn fchownat(p: &Proc, dirfd: i32, path: UserAddr, uid: u32, gid: u32, flag: i32) -> Result<(), Errno> {
    if flag & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let (path, ctx) = path_at(p, dirfd, path)?;
    let vp = namei(&ctx, &path, flag & AT_SYMLINK_NOFOLLOW == 0)?;
    vn_chown(&ctx, &vp, uid, gid)
}

/// `fchown(fd, uid, gid)`: see [`vn_chown`]. Not a vnode (a pipe): `EINVAL`.
pub fn fchown(p: &Proc, fd: i32, uid: u32, gid: u32) -> Result<(), Errno> {
    let vp = fd_vnode(p, fd, Errno::EINVAL)?;
    vn_chown(&p.vfs_context()?, &vp, uid, gid)
}

/// Sets `vp`'s access and modification times from the two `struct timeval`s at user `tptr`
/// (XNU's `getutimes`/`setutimes`), or to now if `tptr` is NULL. Now: the owner, root, or
/// anyone who may write the file (else `EACCES`); explicit times: the owner or root only
/// (`EPERM`). Microseconds are taken as they are, with no range check, as XNU takes them.
fn vn_utimes(ctx: &VfsContext, vp: &VnodeRef, tptr: UserAddr) -> Result<(), Errno> {
    let (atime, mtime) = if tptr.0 == 0 {
        if owner_or_root(ctx, vp).is_err() {
            vp.authorize(&ctx.cred, VWRITE)?;
        }
        let now = vfs_timestamp();
        (now, now)
    } else {
        let tv = UserPtr::<[Timeval; 2]>::new(tptr.0)?.read()?;
        owner_or_root(ctx, vp)?;
        let ts =
            |t: &Timeval| Timespec { tv_sec: t.tv_sec, tv_nsec: i64::from(t.tv_usec).wrapping_mul(1000) };
        (ts(&tv[0]), ts(&tv[1]))
    };
    vp.set_times(atime, mtime);
    Ok(())
}

/// `utimes(path, tptr)`: see [`vn_utimes`]; a final symbolic link is followed.
pub fn utimes(p: &Proc, path: UserAddr, tptr: UserAddr) -> Result<(), Errno> {
    let (path, ctx) = path_at(p, AT_FDCWD, path)?;
    let vp = namei(&ctx, &path, true)?;
    vn_utimes(&ctx, &vp, tptr)
}

/// `futimes(fd, tptr)`: see [`vn_utimes`]. Not a vnode (a pipe): `EINVAL`... XNU answers
/// ENOTSUP for files without a vnode here.
pub fn futimes(p: &Proc, fd: i32, tptr: UserAddr) -> Result<(), Errno> {
    let vp = fd_vnode(p, fd, Errno::ENOTSUP)?;
    vn_utimes(&p.vfs_context()?, &vp, tptr)
}

/// `linkat(fd1, path, fd2, link, flag)`, and `link` at [`AT_FDCWD`] following links (as XNU's
/// `link` does): a new name `link` for the existing file `path` (a final symbolic link of
/// `path` followed only with [`AT_SYMLINK_FOLLOW`]). A directory: `EPERM`; the name taken:
/// `EEXIST`; another file system: `EXDEV`; the new name's directory not writable: `EACCES`.
/// Other flags: `EINVAL`.
pub fn linkat(p: &Proc, fd1: i32, path: UserAddr, fd2: i32, link: UserAddr, flag: i32) -> Result<(), Errno> {
    if flag & !AT_SYMLINK_FOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let (path, ctx1) = path_at(p, fd1, path)?;
    let vp = namei(&ctx1, &path, flag & AT_SYMLINK_FOLLOW != 0)?;
    if vp.vtype() == VType::VDIR {
        return Err(Errno::EPERM);
    }
    let (link, ctx) = path_at(p, fd2, link)?;
    let (dvp, name) = lookup_parent(&ctx, &link)?;
    if name.is_empty() || dvp.lookup(&name).is_ok() {
        return Err(Errno::EEXIST);
    }
    if !same_file_system(&dvp, &vp) {
        return Err(Errno::EXDEV);
    }
    crate::vfs::vfs_vnops::vn_authorize_add(&dvp, &ctx.cred)?;
    dvp.link(&name, &vp)
}

/// Are `a` and `b` in one file system (the same file system number)?
fn same_file_system(a: &VnodeRef, b: &VnodeRef) -> bool {
    a.fsid() != 0 && a.fsid() == b.fsid()
}

/// `symlinkat(target, dirfd, path)`, and `symlink` at [`AT_FDCWD`]: a symbolic link `path`
/// holding `target` (any bytes, not looked at), mode 0777 less the umask, owned by the
/// caller. The name taken: `EEXIST`.
pub fn symlinkat(p: &Proc, target: UserAddr, dirfd: i32, path: UserAddr) -> Result<(), Errno> {
    let target = copyin_path(p, target)?;
    let (path, ctx) = path_at(p, dirfd, path)?;
    let (dvp, name) = lookup_parent(&ctx, &path)?;
    if name.is_empty() {
        return Err(Errno::EEXIST);
    }
    crate::vfs::vfs_vnops::vn_authorize_add(&dvp, &ctx.cred)?;
    let vp = dvp.symlink(&name, ACCESSPERMS & !ctx.cmask, &target)?;
    vp.set_owner(ctx.cred.uid, dvp.gid());
    Ok(())
}

/// `readlinkat(dirfd, path, buf, bufsize)`, and `readlink` at [`AT_FDCWD`]: as much of the
/// link's target as fits in `bufsize` bytes, with no NUL; returns the count. Not a link:
/// `EINVAL`; `bufsize` above `INT_MAX`: `EINVAL`.
pub fn readlinkat(
    p: &Proc,
    dirfd: i32,
    path: UserAddr,
    buf: UserAddr,
    bufsize: usize,
) -> Result<usize, Errno> {
    if bufsize > i32::MAX as usize {
        return Err(Errno::EINVAL);
    }
    let (path, ctx) = path_at(p, dirfd, path)?;
    let vp = namei(&ctx, &path, false)?;
    let target = vp.readlink()?;
    let n = target.len().min(bufsize);
    UserSlice::new(buf.0, n)?.write_at(0, &target[..n])?;
    vp.touch(crate::vfs::vnode::TimeUpdate::Access);
    Ok(n)
}

/// `fsync(fd)` and `fcntl(F_FULLFSYNC)`: the file's data is on its storage. Memory is the
/// ramfs's storage, so there is nothing to write; a descriptor that is not a file (a
/// pipe): `ENOTSUP`, as XNU's `fp_getfvp` answers.
pub fn fsync(p: &Proc, fd: i32) -> Result<(), Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    if fg.fg_ops.fo_type() != crate::kern::kern_descrip::DType::Vnode {
        return Err(Errno::ENOTSUP);
    }
    Ok(())
}

/// The length limit `truncate` and `ftruncate` check first, as XNU's do: a length past the
/// caller's `RLIMIT_FSIZE` posts `SIGXFSZ` to the process and fails with `EFBIG`.
fn check_fsize(p: &Arc<Proc>, length: i64) -> Result<(), Errno> {
    let limit = p.p_rlimit.lock()[RLIMIT_FSIZE as usize].rlim_cur;
    if length as u64 > limit {
        let _ = crate::kern::kern_sig::psignal(p, SIGXFSZ, SigOrigin::default());
        return Err(Errno::EFBIG);
    }
    Ok(())
}

/// `truncate(path, length)`: the file at `path` (a final symbolic link followed) becomes
/// `length` bytes long; bytes past it go, and a longer file reads as zeros past its old end
/// (`Vnode::setsize`, which also stamps mtime and ctime). As XNU's `truncate` and
/// `vnode_authattr` check it: a negative length `EINVAL`, past RLIMIT_FSIZE `EFBIG` (and
/// SIGXFSZ); a directory `EISDIR` and any other non-file `EINVAL`, before permissions; then
/// the caller needs write permission (`EACCES`). The file system's budget: `ENOSPC`.
pub fn truncate(p: &Arc<Proc>, path: UserAddr, length: i64) -> Result<(), Errno> {
    if length < 0 {
        return Err(Errno::EINVAL);
    }
    check_fsize(p, length)?;
    let (path, ctx) = path_at(p, AT_FDCWD, path)?;
    let vp = namei(&ctx, &path, true)?;
    match vp.vtype() {
        VType::VREG => {}
        VType::VDIR => return Err(Errno::EISDIR),
        _ => return Err(Errno::EINVAL),
    }
    vp.authorize(&ctx.cred, VWRITE)?;
    vp.setsize(length as u64)
}

/// `ftruncate(fd, length)`: as [`truncate`] for the file open on `fd`, with no permission
/// check beyond the open's: a descriptor not open for writing is `EINVAL`, as is one that is
/// not a vnode (a pipe), as XNU's `ftruncate` answers. A device has no length: nothing is
/// done, successfully.
pub fn ftruncate(p: &Arc<Proc>, fd: i32, length: i64) -> Result<(), Errno> {
    if length < 0 {
        return Err(Errno::EINVAL);
    }
    check_fsize(p, length)?;
    let fg = p.p_fd.lock().get(fd)?;
    if fg.fg_ops.fo_type() != DType::Vnode || fg.flag() & FWRITE == 0 {
        return Err(Errno::EINVAL);
    }
    // The console is a device without a vnode here: nothing to cut, as for any device.
    fg.fg_ops.vnode().map_or(Ok(()), |vp| vp.setsize(length as u64))
}

/// `flock(fd, how)`: see `vfs_vnops::vn_flock`. The description stays referenced while the
/// caller sleeps for the lock, whatever happens to `fd`.
pub fn flock(p: &Proc, fd: i32, how: i32) -> Result<(), Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    vn_flock(&fg, how)
}

/// Writes `sfs` to user `buf`.
fn copyout_statfs(buf: UserAddr, sfs: &Statfs) -> Result<(), Errno> {
    UserPtr::<Statfs>::new(buf.0)?.write(sfs)?;
    Ok(())
}

/// The mount `vp`'s file system is mounted as; none (a file system taken down while the
/// file stayed open): `EBADF`, as XNU's `fstatfs64` answers for a vnode without a mount.
fn mount_of(vp: &VnodeRef) -> Result<MountRef, Errno> {
    vnode_mount(vp).ok_or(Errno::EBADF)
}

/// `statfs64(path, buf)`: the `struct statfs` of the file system holding `path` (a final
/// symbolic link followed), its numbers as they are now (`Mount::statfs`).
pub fn statfs64(p: &Proc, path: UserAddr, buf: UserAddr) -> Result<(), Errno> {
    let (path, ctx) = path_at(p, AT_FDCWD, path)?;
    let vp = namei(&ctx, &path, true)?;
    copyout_statfs(buf, &mount_of(&vp)?.statfs())
}

/// `fstatfs64(fd, buf)`: as [`statfs64`] for the file open on `fd`. Not a vnode (a pipe):
/// `EINVAL`, as XNU's `file_vnode` answers.
pub fn fstatfs64(p: &Proc, fd: i32, buf: UserAddr) -> Result<(), Errno> {
    let vp = fd_vnode(p, fd, Errno::EINVAL)?;
    copyout_statfs(buf, &mount_of(&vp)?.statfs())
}

/// `getfsstat64(buf, bufsize, flags)`: a `struct statfs` for each mount, oldest (the root)
/// first, as many as `bufsize` holds whole; returns how many were written, or with a NULL
/// `buf` how many mounts there are. As in XNU, `bufsize` is divided as an unsigned size, so a
/// negative one holds them all; `flags` (`MNT_WAIT`, `MNT_NOWAIT`) only choose between
/// fresh and cached numbers, and these are always fresh. A bad `buf`: `EFAULT`.
pub fn getfsstat64(buf: UserAddr, bufsize: i32, _flags: i32) -> Result<usize, Errno> {
    let mounts = mountlist();
    if buf.0 == 0 {
        return Ok(mounts.len());
    }
    let size = core::mem::size_of::<Statfs>() as u64;
    // XNU keeps the quotient in an `int`.
    let maxcount = ((bufsize as i64 as u64) / size) as i32;
    let maxcount = usize::try_from(maxcount).unwrap_or(0);
    for (i, mp) in mounts.iter().take(maxcount).enumerate() {
        let at = (i as u64).checked_mul(size).and_then(|off| buf.0.checked_add(off)).ok_or(Errno::EFAULT)?;
        copyout_statfs(UserAddr(at), &mp.statfs())?;
    }
    Ok(mounts.len().min(maxcount))
}

/// The path of `vp` from the caller's root (XNU's `vn_getpath`, what `F_GETPATH` returns):
/// each directory up to the root is searched for the entry naming the one below it; a
/// file system's root continues from the directory it is mounted on. A vnode with no name
/// left (removed): `ENOENT`. At most [`MAXPATHLEN`] bytes with the NUL (`ENAMETOOLONG`).
pub fn vn_getpath(ctx: &VfsContext, vp: &VnodeRef) -> Result<Vec<u8>, Errno> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut len = 0;
    let mut at = vp.clone();
    loop {
        if Arc::ptr_eq(&at, &ctx.rdir) {
            break;
        }
        if let Some(mp) = at.root_of() {
            match mp.covered() {
                Some(covered) => at = covered.clone(),
                None => break,
            }
            continue;
        }
        let Some(dvp) = at.parent() else { break };
        let name = dvp
            .readdir()?
            .into_iter()
            .map(|e| e.name)
            .find(|name| dvp.lookup(name).is_ok_and(|c| Arc::ptr_eq(&c, &at)))
            .ok_or(Errno::ENOENT)?;
        len += name.len() + 1;
        if len >= MAXPATHLEN {
            return Err(Errno::ENAMETOOLONG);
        }
        parts.push(name);
        at = dvp;
    }
    let mut path = Vec::new();
    path.try_reserve_exact(len.max(1)).map_err(|_| Errno::ENOMEM)?;
    for name in parts.iter().rev() {
        path.push(b'/');
        path.extend_from_slice(name);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    Ok(path)
}

/// `fcntl(fd, F_GETPATH, buf)`: the path of the file open on `fd`, NUL-terminated, into the
/// `MAXPATHLEN`-byte buffer at `buf`. Not a vnode (a pipe): `EBADF`, as XNU answers.
pub fn fcntl_getpath(p: &Proc, fd: i32, buf: UserAddr) -> Result<(), Errno> {
    let vp = fd_vnode(p, fd, Errno::EBADF)?;
    let mut path = vn_getpath(&p.vfs_context()?, &vp)?;
    path.push(0);
    UserSlice::new(buf.0, path.len())?.write_at(0, &path)?;
    Ok(())
}

/// `mount(type, path, flags, data)`: a fresh file system of kind `type` (`"ramfs"`,
/// `"devfs"`) on directory `path`, or with `MNT_UPDATE` new flags for the one mounted there
/// (see `vfs_mount::mount_common` for the rules). Root only (`EPERM`): XNU lets a directory's
/// owner mount on it when `vfs.generic.usermount` is set, which this kernel has not. A
/// type name longer than `MFSTYPENAMELEN` with its NUL: `ENAMETOOLONG`, as XNU's copy-in of
/// it gives. Neither kind reads `data`, so it is not looked at (XNU hands it to the file
/// system, and devfs ignores it too).
pub fn mount(p: &Proc, fstype: UserAddr, path: UserAddr, flags: i32, _data: UserAddr) -> Result<(), Errno> {
    if p.p_ucred.lock().uid != 0 {
        return Err(Errno::EPERM);
    }
    let mut name = Vec::new();
    copyinstr(fstype, MFSTYPENAMELEN, &mut name)
        .map_err(|kr| if kr == KernReturn::KERN_NO_SPACE { Errno::ENAMETOOLONG } else { Errno::EFAULT })?;
    let (path, ctx) = path_at(p, AT_FDCWD, path)?;
    let vp = namei(&ctx, &path, true)?;
    // The name `statfs` shows: where the directory is, from the caller's root.
    let on = vn_getpath(&ctx, &vp)?;
    let on = core::str::from_utf8(&on).map_err(|_| Errno::EINVAL)?;
    mount_common(&vp, &name, on, flags as u32).map(drop)
}

/// `unmount(path, flags)`: the file system whose root `path` names goes, and the directory
/// it covered shows again (see `vfs_mount::dounmount`). Root only (`EPERM`). In use — a
/// file in it open anywhere (a descriptor, a fileport, a descriptor in flight in a Mach
/// message), or a process's or thread's working or root directory inside it: a long-term
/// use of one of its vnodes — `EBUSY`; with `MNT_FORCE` it goes anyway, and those files are
/// revoked: their reads and writes fail with `EIO` from then on, as XNU's `unmount(2)`
/// says (device nodes and FIFOs go on working).
pub fn unmount(p: &Proc, path: UserAddr, flags: i32) -> Result<(), Errno> {
    if p.p_ucred.lock().uid != 0 {
        return Err(Errno::EPERM);
    }
    let (path, ctx) = path_at(p, AT_FDCWD, path)?;
    let vp = namei(&ctx, &path, true)?;
    drop(ctx);
    dounmount(&vp, flags as u32)
}
