//! mount (167) and unmount (159), root only (issue 15, B4 VFS): a fresh ramfs or devfs on a
//! directory, seen by statfs64 and getfsstat64 and crossed by lookups until it is
//! unmounted; the errors XNU's `mount_common` and `unmount` give; MNT_RDONLY and MNT_UPDATE;
//! and the bounds — the mount table, the mounted ramfs file systems, and the kernel heap
//! given back by every unmount.

use libsys::Args;
use libsys::Errno;
use libsys::syscall::{
    self, close, getfsstat, mount_path, open_path, read_bytes, setuid, statfs_path, unmount_path, write_bytes,
};
use sys::fcntl::{O_CREAT, O_RDONLY, O_RDWR, O_WRONLY};
use sys::mount::{
    MNT_FORCE, MNT_LOCAL, MNT_NODEV, MNT_NOEXEC, MNT_NOSUID, MNT_NOWAIT, MNT_RDONLY, MNT_ROOTFS, MNT_UPDATE,
    Statfs, name_of,
};
use sys::stat::Stat64;
use sys::wait::{wexitstatus, wifexited};

use crate::{KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, crate::Case)] = &[
    (
        "mount: a ramfs on a /tmp directory, in statfs64 and getfsstat64; unmount EBUSY while used",
        ramfs_mount_and_unmount,
    ),
    ("mount / unmount errors: EPERM, ENODEV, ENAMETOOLONG, ENOTDIR, ENOENT, EBUSY, EINVAL, EFAULT", errors),
    ("mount: MNT_RDONLY gives EROFS; MNT_UPDATE turns it off and on", read_only),
    ("unmount: EBUSY while a fileport holds a file, not for a zombie's directory", busy_holders),
    ("unmount MNT_FORCE: open files revoked (EIO, EBADF), a cwd inside ENOTDIR, devices work", forced),
    ("mount: a second devfs elsewhere, its null node works", second_devfs),
    ("mount: MNT_NOEXEC (exec EACCES), MNT_NODEV (devices ENXIO), MNT_NOSUID (no set-id)", exec_flags),
    ("mount: 200 mount/unmount cycles give the heap back; mounts are bounded (ENOMEM)", bounds),
];

const DIR: &[u8] = b"/tmp/mnt-a\0";
const FILE: &[u8] = b"/tmp/mnt-a/f\0";

fn addr(s: &[u8]) -> u64 {
    s.as_ptr() as u64
}

fn mkdir(path: &[u8]) -> Result<(), &'static str> {
    // SAFETY: `path` is NUL-terminated.
    let r = unsafe { syscall::mkdir(addr(path), 0o755) };
    check(r.is_ok() || r == Err(Errno::EEXIST), "mkdir")
}

fn rmdir(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::rmdir(addr(path)) }
}

fn unlink(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::unlink(addr(path)) }
}

fn stat(path: &[u8]) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64; `path` NUL-terminated.
    unsafe { syscall::stat64(addr(path), core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn chdir(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::chdir(addr(path)) }
}

fn raw_mount(fstype: u64, dir: u64, flags: u32) -> Result<u64, Errno> {
    // SAFETY: the kernel checks both addresses (the bad ones are the point); `data` is NULL.
    unsafe { syscall::mount(fstype, dir, flags as i32, 0) }
}

fn mount(fstype: &[u8], dir: &[u8], flags: u32) -> Result<(), Errno> {
    mount_path(fstype, dir, flags as i32)
}

fn unmount(dir: &[u8], flags: u32) -> Result<(), Errno> {
    unmount_path(dir, flags as i32)
}

fn mounts() -> Result<usize, &'static str> {
    getfsstat(&mut [], MNT_NOWAIT).map_err(|_| "getfsstat64(NULL)")
}

/// `dir` made afresh: an earlier run's mount taken down and the directory emptied.
fn fresh_dir(dir: &[u8]) -> Result<(), &'static str> {
    while unmount(dir, 0).is_ok() {}
    mkdir(dir)
}

fn ramfs_mount_and_unmount(_: &Args) -> Result<(), &'static str> {
    fresh_dir(DIR)?;
    let tmp = statfs_path(b"/tmp\0").map_err(|_| "statfs /tmp")?;
    let count = mounts()?;
    check(mount(b"ramfs\0", DIR, MNT_NOSUID | MNT_NODEV | MNT_NOEXEC) == Ok(()), "mount a ramfs")?;
    let sfs = statfs_path(DIR).map_err(|_| "statfs64 of the mount")?;
    check(name_of(&sfs.f_fstypename) == b"ramfs", "f_fstypename ramfs")?;
    check(name_of(&sfs.f_mntonname) == b"/tmp/mnt-a", "f_mntonname is the directory")?;
    let want = MNT_NOSUID | MNT_NODEV | MNT_NOEXEC | MNT_LOCAL;
    check(sfs.f_flags & want == want && sfs.f_flags & (MNT_ROOTFS | MNT_RDONLY) == 0, "the flags given")?;
    check(sfs.f_fsid != tmp.f_fsid, "a file system of its own")?;
    check(sfs.f_files - sfs.f_ffree == 1 && sfs.f_bfree > 0, "empty: its root only, room free")?;
    check(mounts()? == count + 1, "getfsstat64 counts one more")?;
    let mut all: [Statfs; 16] = core::array::from_fn(|_| Statfs::zeroed());
    let n = getfsstat(&mut all, MNT_NOWAIT).map_err(|_| "getfsstat64")?;
    check(n == count + 1, "every entry")?;
    check(
        all[..n].iter().any(|s| name_of(&s.f_mntonname) == b"/tmp/mnt-a" && s.f_fsid == sfs.f_fsid),
        "listed",
    )?;
    check(name_of(&all[n - 1].f_mntonname) == b"/tmp/mnt-a", "the newest mount last")?;
    // A file in it belongs to it.
    let fd = open_path(FILE, O_RDWR | O_CREAT, 0o644).map_err(|_| "create a file in the mount")?;
    check(write_bytes(fd, b"hello") == Ok(5), "write it")?;
    check(stat(FILE).is_ok_and(|s| s.st_dev == sfs.f_fsid.val[0]), "st_dev is the mount's")?;
    check(statfs_path(DIR).is_ok_and(|s| s.f_ffree + 1 == sfs.f_ffree), "one node more")?;
    // Busy while open, forced or not.
    check(unmount(DIR, 0) == Err(Errno::EBUSY), "open file: EBUSY")?;
    check(unmount(FILE, 0) == Err(Errno::EINVAL), "a file is not a mount")?;
    let _ = close(fd);
    // Busy while it is a working directory.
    check(chdir(DIR) == Ok(0), "chdir into it")?;
    let busy = unmount(DIR, 0);
    check(chdir(b"/\0") == Ok(0), "chdir out")?;
    check(busy == Err(Errno::EBUSY), "a cwd in it: EBUSY")?;
    check(unmount(DIR, 0) == Ok(()), "unmount")?;
    check(mounts()? == count, "getfsstat64 counts one fewer")?;
    check(statfs_path(DIR).is_ok_and(|s| s.f_fsid == tmp.f_fsid), "the directory is /tmp's again")?;
    check(stat(FILE) == Err(Errno::ENOENT), "the file went with it")?;
    check(unmount(DIR, 0) == Err(Errno::EINVAL), "not a mount point any more")?;
    check(rmdir(DIR) == Ok(0), "the covered directory is empty: rmdir")
}

fn errors(_: &Args) -> Result<(), &'static str> {
    const B: &[u8] = b"/tmp/mnt-b\0";
    const F: &[u8] = b"/tmp/mnt-b/file\0";
    fresh_dir(B)?;
    let _ = close(open_path(F, O_WRONLY | O_CREAT, 0o644).map_err(|_| "create")?);
    let status = crate::proc::in_child(|| {
        if setuid(501).is_err() {
            return 100;
        }
        if mount(b"ramfs\0", B, 0) != Err(Errno::EPERM) {
            return 1;
        }
        if unmount(b"/tmp\0", 0) != Err(Errno::EPERM) {
            return 2;
        }
        0
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "uid 501: EPERM for mount and unmount")?;
    check(mount(b"nfs\0", B, 0) == Err(Errno::ENODEV), "unknown type: ENODEV")?;
    check(mount(b"\0", B, 0) == Err(Errno::ENODEV), "empty type: ENODEV")?;
    check(mount(b"ramfs-with-a-long-name\0", B, 0) == Err(Errno::ENAMETOOLONG), "type name too long")?;
    check(mount(b"ramfs\0", F, 0) == Err(Errno::ENOTDIR), "a file: ENOTDIR")?;
    check(mount(b"ramfs\0", b"/tmp/mnt-none\0", 0) == Err(Errno::ENOENT), "missing: ENOENT")?;
    check(mount(b"ramfs\0", b"/tmp\0", 0) == Err(Errno::EBUSY), "a mount point: EBUSY")?;
    check(mount(b"ramfs\0", b"/\0", 0) == Err(Errno::EBUSY), "the root: EBUSY")?;
    check(mount(b"ramfs\0", B, MNT_UPDATE) == Err(Errno::EINVAL), "MNT_UPDATE, not mounted: EINVAL")?;
    check(unmount(B, 0) == Err(Errno::EINVAL), "unmount of a plain directory: EINVAL")?;
    check(unmount(b"/\0", 0) == Err(Errno::EBUSY), "unmount /: EBUSY")?;
    check(unmount(b"/\0", MNT_FORCE) == Err(Errno::EBUSY), "unmount / forced: EBUSY")?;
    check(unmount(b"/tmp/mnt-none\0", 0) == Err(Errno::ENOENT), "unmount of nothing: ENOENT")?;
    for (fstype, dir, why) in [
        (UNMAPPED_ADDRESS, addr(B), "unmapped type"),
        (KERNEL_ADDRESS, addr(B), "kernel type"),
        (0, addr(B), "NULL type"),
        (addr(b"ramfs\0"), UNMAPPED_ADDRESS, "unmapped dir"),
        (addr(b"ramfs\0"), KERNEL_ADDRESS, "kernel dir"),
    ] {
        check(raw_mount(fstype, dir, 0) == Err(Errno::EFAULT), why)?;
    }
    // SAFETY: bad addresses, which the kernel refuses.
    unsafe {
        check(syscall::unmount(UNMAPPED_ADDRESS, 0) == Err(Errno::EFAULT), "unmount of an unmapped path")?;
        check(syscall::unmount(KERNEL_ADDRESS, 0) == Err(Errno::EFAULT), "unmount of a kernel path")?;
    }
    check(stat(F).is_ok(), "nothing was mounted")?;
    let _ = unlink(F);
    check(rmdir(B) == Ok(0), "rmdir")
}

fn read_only(_: &Args) -> Result<(), &'static str> {
    const R: &[u8] = b"/tmp/mnt-r\0";
    const F: &[u8] = b"/tmp/mnt-r/f\0";
    fresh_dir(R)?;
    check(mount(b"ramfs\0", R, MNT_RDONLY) == Ok(()), "mount read-only")?;
    check(statfs_path(R).is_ok_and(|s| s.f_flags & MNT_RDONLY != 0), "f_flags has MNT_RDONLY")?;
    check(open_path(F, O_WRONLY | O_CREAT, 0o644) == Err(Errno::EROFS), "create: EROFS")?;
    check(mkdir_errno(b"/tmp/mnt-r/d\0") == Err(Errno::EROFS), "mkdir: EROFS")?;
    check(mount(b"ramfs\0", R, MNT_UPDATE) == Ok(()), "MNT_UPDATE: writable")?;
    check(statfs_path(R).is_ok_and(|s| s.f_flags & MNT_RDONLY == 0), "MNT_RDONLY gone")?;
    let fd = open_path(F, O_WRONLY | O_CREAT, 0o644).map_err(|_| "create, writable")?;
    check(write_bytes(fd, b"abc") == Ok(3), "write")?;
    let _ = close(fd);
    check(mount(b"ramfs\0", R, MNT_UPDATE | MNT_RDONLY) == Ok(()), "MNT_UPDATE: read-only again")?;
    check(open_path(F, O_WRONLY, 0) == Err(Errno::EROFS), "open to write: EROFS")?;
    check(unlink(F) == Err(Errno::EROFS), "unlink: EROFS")?;
    let fd = open_path(F, O_RDONLY, 0).map_err(|_| "open to read")?;
    let mut buf = [0u8; 8];
    check(read_bytes(fd, &mut buf) == Ok(3) && &buf[..3] == b"abc", "reads go on")?;
    let _ = close(fd);
    check(unmount(R, 0) == Ok(()), "unmount")?;
    check(rmdir(R) == Ok(0), "rmdir")
}

/// The errno an exec of `path` fails with, in a child.
fn exec_errno(path: &'static [u8]) -> Result<i32, &'static str> {
    // execv returns only when the exec failed.
    let status = crate::proc::in_child(|| libsys::process::execv(path, &[path]).0)?;
    check(wifexited(status), "the exec child exited")?;
    Ok(wexitstatus(status))
}

fn exec_flags(_: &Args) -> Result<(), &'static str> {
    const X: &[u8] = b"/tmp/mnt-x\0";
    const JUNK: &[u8] = b"/tmp/mnt-x/junk\0";
    const NULL: &[u8] = b"/tmp/mnt-x/null\0";
    fresh_dir(X)?;
    check(mount(b"ramfs\0", X, MNT_NOEXEC | MNT_NODEV) == Ok(()), "mount noexec,nodev")?;
    let fd = open_path(JUNK, O_WRONLY | O_CREAT, 0o755).map_err(|_| "create")?;
    check(write_bytes(fd, b"not a program") == Ok(13), "write")?;
    let _ = close(fd);
    // /dev/null's device number: major 3, minor 2.
    // SAFETY: `NULL` is NUL-terminated.
    let made = unsafe { syscall::mknod(addr(NULL), i32::from(sys::stat::S_IFCHR) | 0o666, (3 << 24) | 2) };
    check(made == Ok(0), "mknod a character device")?;
    check(exec_errno(JUNK)? == Errno::EACCES.0, "exec on MNT_NOEXEC: EACCES")?;
    check(open_path(NULL, O_RDWR, 0) == Err(Errno::ENXIO), "a device on MNT_NODEV: ENXIO")?;
    check(mount(b"ramfs\0", X, MNT_UPDATE) == Ok(()), "MNT_UPDATE: both off")?;
    check(exec_errno(JUNK)? == Errno::ENOEXEC.0, "then the same exec reads the file: ENOEXEC")?;
    let fd = open_path(NULL, O_RDWR, 0).map_err(|_| "the device opens")?;
    check(write_bytes(fd, b"gone") == Ok(4), "and is /dev/null")?;
    let _ = close(fd);
    // MNT_NOSUID on the root file system for a moment: the set-user-id program runs with
    // the caller's ids.
    check(mount(b"ramfs\0", b"/\0", MNT_UPDATE | MNT_NOSUID) == Ok(()), "MNT_UPDATE / nosuid")?;
    let status = crate::setid::run_as(b"/bin/setuid-ids\0", true);
    check(mount(b"ramfs\0", b"/\0", MNT_UPDATE) == Ok(()), "MNT_UPDATE / back")?;
    // What the ids program reports: 2 = real uid not root, 8 = real gid not wheel, and
    // neither 1 (euid root) nor 16 (issetugid).
    check(status? == 2 | 8, "MNT_NOSUID: the set-id bit is ignored")?;
    check(crate::setid::run_as(b"/bin/setuid-ids\0", true)? & 1 != 0, "and honoured again after")?;
    check(unlink(JUNK) == Ok(0) && unlink(NULL) == Ok(0), "unlink")?;
    check(unmount(X, 0) == Ok(()), "unmount")?;
    check(rmdir(X) == Ok(0), "rmdir")
}

fn busy_holders(_: &Args) -> Result<(), &'static str> {
    use libsys::mach::mach_port_deallocate;
    use libsys::mach_traps::mach_task_self;
    const B: &[u8] = b"/tmp/mnt-b\0";
    const F: &[u8] = b"/tmp/mnt-b/f\0";
    fresh_dir(B)?;
    check(mount(b"ramfs\0", B, 0) == Ok(()), "mount")?;
    // A file open only through a fileport (no descriptor left) is still in use.
    let fd = open_path(F, O_RDWR | O_CREAT, 0o644).map_err(|_| "create")?;
    let mut port = 0u32;
    // SAFETY: `port` is a writable u32.
    let made = unsafe { syscall::fileport_makeport(fd, core::ptr::from_mut(&mut port) as u64) };
    let _ = close(fd);
    check(made == Ok(0), "fileport_makeport")?;
    let busy = unmount(B, 0);
    let freed = mach_port_deallocate(mach_task_self(), port);
    check(busy == Err(Errno::EBUSY), "a file held by a fileport: EBUSY")?;
    check(freed == mach::KernReturn::KERN_SUCCESS, "deallocate the fileport")?;
    // A child that exits inside the mount leaves a zombie, which keeps nothing busy. The
    // end of its pipe closing says it is exiting and its directories are gone (exit lets
    // go of them before the descriptors).
    let [r, w] = libsys::process::pipe().map_err(|_| "pipe")?;
    let pid = match libsys::process::fork().map_err(|_| "fork")? {
        libsys::process::Forked::Child => {
            let _ = close(r);
            let _ = chdir(B);
            syscall::exit_process(0)
        }
        libsys::process::Forked::Parent(pid) => pid,
    };
    let _ = close(w);
    let mut b = [0u8; 1];
    let eof = read_bytes(r, &mut b);
    let _ = close(r);
    check(eof == Ok(0), "the child's end closed")?;
    let with_zombie = unmount(B, 0);
    let reaped = libsys::process::waitpid(pid, 0);
    if with_zombie.is_err() {
        let _ = unmount(B, 0);
    }
    check(reaped.is_ok(), "wait4")?;
    check(with_zombie == Ok(()), "a zombie's working directory: no longer in use")?;
    check(rmdir(B) == Ok(0), "rmdir")
}

fn forced(_: &Args) -> Result<(), &'static str> {
    const M: &[u8] = b"/tmp/mnt-f\0";
    const F: &[u8] = b"/tmp/mnt-f/f\0";
    const D: &[u8] = b"/tmp/mnt-f/d\0";
    const NULL: &[u8] = b"/tmp/mnt-f/null\0";
    fresh_dir(M)?;
    check(mount(b"ramfs\0", M, 0) == Ok(()), "mount")?;
    let fd = open_path(F, O_RDWR | O_CREAT, 0o644).map_err(|_| "create")?;
    check(write_bytes(fd, b"before") == Ok(6), "write")?;
    mkdir(D)?;
    // /dev/null's device number: major 3, minor 2.
    // SAFETY: `NULL` is NUL-terminated.
    let made = unsafe { syscall::mknod(addr(NULL), i32::from(sys::stat::S_IFCHR) | 0o666, (3 << 24) | 2) };
    check(made == Ok(0), "mknod")?;
    let dev = open_path(NULL, O_RDWR, 0).map_err(|_| "open the device")?;
    let dir = open_path(D, O_RDONLY, 0).map_err(|_| "open the directory")?;
    // A child works inside the mount: its working directory is there.
    let [r, w] = libsys::process::pipe().map_err(|_| "pipe")?;
    let [r2, w2] = libsys::process::pipe().map_err(|_| "pipe")?;
    let pid = match libsys::process::fork().map_err(|_| "fork")? {
        libsys::process::Forked::Child => {
            let _ = (close(r), close(w2));
            let ok = chdir(D) == Ok(0) && open_path(b"x\0", O_RDWR | O_CREAT, 0o644).map(close).is_ok();
            let _ = write_bytes(w, &[u8::from(ok)]);
            // Wait for the unmount, then try again where it was.
            let mut b = [0u8; 1];
            let _ = read_bytes(r2, &mut b);
            let after = open_path(b"y\0", O_RDWR | O_CREAT, 0o644);
            syscall::exit_process(match after {
                Err(e) => e.0,
                Ok(_) => 255,
            })
        }
        libsys::process::Forked::Parent(pid) => pid,
    };
    let _ = (close(w), close(r2));
    let mut b = [0u8; 1];
    check(read_bytes(r, &mut b) == Ok(1) && b[0] == 1, "the child works in the mount")?;
    check(unmount(M, 0) == Err(Errno::EBUSY), "in use: EBUSY")?;
    let forced = unmount(M, MNT_FORCE);
    let _ = write_bytes(w2, b"g");
    let status = libsys::process::waitpid(pid, 0).map(|(_, s)| s);
    let _ = (close(r), close(w2));
    check(forced == Ok(()), "MNT_FORCE: unmounted")?;
    check(
        status.is_ok_and(|s| wifexited(s) && wexitstatus(s) == Errno::ENOTDIR.0),
        "the child's cwd: ENOTDIR",
    )?;
    // The open file is revoked.
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is writable for its length.
    let pr = unsafe { syscall::pread(fd, buf.as_mut_ptr() as u64, buf.len(), 0) };
    check(pr == Err(Errno::EIO), "read of a revoked file: EIO")?;
    check(write_bytes(fd, b"after") == Err(Errno::EIO), "write: EIO")?;
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64.
    let fs = unsafe { syscall::fstat64(fd, core::ptr::from_mut(&mut st) as u64) };
    check(fs == Err(Errno::EBADF), "fstat: EBADF")?;
    check(close(fd) == Ok(0), "close works")?;
    let mut ents = [0u8; 256];
    let mut base = 0u64;
    // SAFETY: `ents` and `base` are writable for their lengths.
    let listed = unsafe {
        syscall::getdirentries64(
            dir,
            ents.as_mut_ptr() as u64,
            ents.len(),
            core::ptr::from_mut(&mut base) as u64,
        )
    };
    check(listed == Err(Errno::EBADF), "listing a revoked directory: EBADF")?;
    let _ = close(dir);
    // A device node goes on working, as unmount(2) promises.
    check(write_bytes(dev, b"still") == Ok(5), "the device still works")?;
    let _ = close(dev);
    // The directory it covered shows again.
    check(stat(F) == Err(Errno::ENOENT), "the covered directory is back")?;
    check(rmdir(M) == Ok(0), "rmdir")
}

fn mkdir_errno(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::mkdir(addr(path), 0o755) }
}

fn second_devfs(_: &Args) -> Result<(), &'static str> {
    const D: &[u8] = b"/tmp/mnt-d\0";
    const NULL: &[u8] = b"/tmp/mnt-d/null\0";
    fresh_dir(D)?;
    check(mount(b"devfs\0", D, 0) == Ok(()), "mount devfs")?;
    let dev = statfs_path(b"/dev\0").map_err(|_| "statfs /dev")?;
    let sfs = statfs_path(D).map_err(|_| "statfs")?;
    check(
        name_of(&sfs.f_fstypename) == b"devfs" && name_of(&sfs.f_mntonname) == b"/tmp/mnt-d",
        "devfs there",
    )?;
    check(sfs.f_fsid != dev.f_fsid, "not /dev's devfs")?;
    let fd = open_path(NULL, O_RDWR, 0).map_err(|_| "open its null")?;
    check(write_bytes(fd, b"gone") == Ok(4), "null takes a write")?;
    let mut buf = [0u8; 4];
    check(read_bytes(fd, &mut buf) == Ok(0), "null reads as end of file")?;
    check(unmount(D, 0) == Err(Errno::EBUSY), "busy while null is open")?;
    let _ = close(fd);
    check(unmount(D, 0) == Ok(()), "unmount")?;
    check(stat(NULL) == Err(Errno::ENOENT), "its nodes went with it")?;
    check(stat(b"/dev/null\0").is_ok(), "/dev is untouched")?;
    check(rmdir(D) == Ok(0), "rmdir")
}

/// Kernel heap a run of mounts may leave behind (a table reaching a new capacity once).
const HEAP_SLACK: u64 = 8192;

fn one_cycle(dir: &[u8], file: &[u8]) -> Result<(), &'static str> {
    check(mount(b"ramfs\0", dir, 0) == Ok(()), "mount in the loop")?;
    let fd = open_path(file, O_WRONLY | O_CREAT, 0o644).map_err(|_| "create in the loop")?;
    check(write_bytes(fd, &[7u8; 5000]) == Ok(5000), "write in the loop")?;
    let _ = close(fd);
    check(unmount(dir, 0) == Ok(()), "unmount in the loop")
}

fn bounds(_: &Args) -> Result<(), &'static str> {
    const C: &[u8] = b"/tmp/mnt-c\0";
    const CF: &[u8] = b"/tmp/mnt-c/f\0";
    fresh_dir(C)?;
    // One cycle first, so that tables that grow once have grown.
    one_cycle(C, CF)?;
    let heap = crate::robust::kernel_heap_used()?;
    for _ in 0..200 {
        one_cycle(C, CF)?;
    }
    let heap_after = crate::robust::kernel_heap_used()?;
    libsys::println!("utest: mount: kernel heap {heap} -> {heap_after} over 200 cycles");
    check(heap_after <= heap + HEAP_SLACK, "mount/unmount cycles leak kernel heap")?;
    // The table's bound: devfs mounts until ENOMEM (ramfs ones stop sooner, at their own).
    let mut names: [[u8; 16]; 80] = [[0; 16]; 80];
    for (i, name) in names.iter_mut().enumerate() {
        let text = b"/tmp/mnt-x";
        name[..text.len()].copy_from_slice(text);
        name[text.len()] = b'0' + (i / 10) as u8;
        name[text.len() + 1] = b'0' + (i % 10) as u8;
    }
    let (mut ramfs, mut ramfs_full, mut refused, mut made) = (0, false, None, 0);
    for name in &names {
        fresh_dir(name)?;
        let fstype: &[u8] = if ramfs_full { b"devfs\0" } else { b"ramfs\0" };
        match mount(fstype, name, 0) {
            Ok(()) if ramfs_full => made += 1,
            Ok(()) => (made, ramfs) = (made + 1, ramfs + 1),
            // The mounted ramfs file systems' own bound; the rest of the table takes devfs.
            Err(Errno::ENOMEM) if !ramfs_full => ramfs_full = true,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let total = mounts()?;
    for name in &names {
        while unmount(name, 0).is_ok() {}
        let _ = rmdir(name);
    }
    libsys::println!("utest: mount: {ramfs} ramfs, {made} in all before {refused:?}; {total} mounts");
    check(ramfs_full && ramfs > 0 && ramfs < 64, "mounted ramfs file systems are bounded: ENOMEM")?;
    check(refused == Some(Errno::ENOMEM) && total <= 64, "the mount table is bounded: ENOMEM")?;
    check(mounts()? == 3, "all taken down again")?;
    let heap_end = crate::robust::kernel_heap_used()?;
    check(heap_end <= heap + HEAP_SLACK, "unmounting gave the heap back")?;
    check(rmdir(C) == Ok(0), "rmdir")
}
