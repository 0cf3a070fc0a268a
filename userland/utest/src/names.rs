//! Names and attributes (issue 15, B4 item 4): mkdir, unlink, rmdir, rename, the stat64
//! family, lseek and getdirentries64, with the errors Darwin's manual pages give them
//! (unlink of a directory EPERM, rmdir of a non-empty one ENOTEMPTY, rename of a directory
//! into itself EINVAL, a file onto a directory EISDIR, the sticky /tmp refusing another
//! user's file EPERM...), and XNU's record layouts.

use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::{self, close, exit_process, open_path, read_bytes, setuid, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::*;
use sys::stat::{S_IFDIR, S_IFMT, S_IFREG, Stat64};
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("mkdir / rmdir / unlink: made, refused and removed as BSD says", make_and_remove),
    ("rename: within and across directories, replacing, refusing", renames),
    ("stat64 / lstat64 / fstat64: XNU's struct stat64", stats),
    ("lseek: SEEK_SET/CUR/END, past the end, errors", seeks),
    ("getdirentries64: records, offsets, the EOF flag", directory_records),
    ("unlink while open; the sticky /tmp refuses another user's file", unlink_open_and_sticky),
    ("rename races: two processes renaming one file back and forth, a third reading it", rename_races),
];

fn mkdir(path: &[u8], mode: i32) -> Result<(), Errno> {
    // SAFETY: `path` is a NUL-terminated string.
    unsafe { syscall::mkdir(path.as_ptr() as u64, mode).map(drop) }
}

fn rmdir(path: &[u8]) -> Result<(), Errno> {
    // SAFETY: as above.
    unsafe { syscall::rmdir(path.as_ptr() as u64).map(drop) }
}

fn unlink(path: &[u8]) -> Result<(), Errno> {
    // SAFETY: as above.
    unsafe { syscall::unlink(path.as_ptr() as u64).map(drop) }
}

fn rename(from: &[u8], to: &[u8]) -> Result<(), Errno> {
    // SAFETY: both are NUL-terminated strings.
    unsafe { syscall::rename(from.as_ptr() as u64, to.as_ptr() as u64).map(drop) }
}

fn stat(path: &[u8]) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64; `path` NUL-terminated.
    unsafe { syscall::stat64(path.as_ptr() as u64, core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn lstat(path: &[u8]) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: as above.
    unsafe { syscall::lstat64(path.as_ptr() as u64, core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn fstat(fd: i32) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64.
    unsafe { syscall::fstat64(fd, core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn make_file(path: &[u8], text: &[u8]) -> Result<(), &'static str> {
    let fd = open_path(path, O_WRONLY | O_CREAT | O_EXCL, 0o644).map_err(|_| "create a file")?;
    check(write_bytes(fd, text) == Ok(text.len() as u64), "write the file")?;
    let _ = close(fd);
    Ok(())
}

fn make_and_remove(_: &Args) -> Result<(), &'static str> {
    check(mkdir(b"/tmp/names-d\0", 0o755) == Ok(()), "mkdir")?;
    check(mkdir(b"/tmp/names-d\0", 0o755) == Err(Errno::EEXIST), "mkdir of an existing name: EEXIST")?;
    check(mkdir(b"/tmp/names-d/sub/\0", 0o700) == Ok(()), "mkdir with a trailing slash")?;
    let st = stat(b"/tmp/names-d/sub\0").map_err(|_| "stat the new directory")?;
    check(st.st_mode == S_IFDIR | 0o700, "the new directory's mode")?;
    check(mkdir(b"/tmp/no/such/dir\0", 0o755) == Err(Errno::ENOENT), "mkdir under a missing directory")?;
    check(mkdir(b"/bin/not-elf/x\0", 0o755) == Err(Errno::ENOTDIR), "mkdir under a file")?;
    make_file(b"/tmp/names-d/f\0", b"x")?;
    check(unlink(b"/tmp/names-d/sub\0") == Err(Errno::EPERM), "unlink of a directory: EPERM")?;
    check(rmdir(b"/tmp/names-d/f\0") == Err(Errno::ENOTDIR), "rmdir of a file: ENOTDIR")?;
    check(rmdir(b"/tmp/names-d\0") == Err(Errno::ENOTEMPTY), "rmdir of a non-empty directory")?;
    check(rmdir(b"/tmp/names-d/.\0") == Err(Errno::EINVAL), "rmdir of .: EINVAL")?;
    check(rmdir(b"/\0") == Err(Errno::EBUSY), "rmdir of /: EBUSY")?;
    check(unlink(b"/tmp/names-d/f\0") == Ok(()), "unlink")?;
    check(unlink(b"/tmp/names-d/f\0") == Err(Errno::ENOENT), "unlink again: ENOENT")?;
    check(rmdir(b"/tmp/names-d/sub\0") == Ok(()) && rmdir(b"/tmp/names-d\0") == Ok(()), "rmdir")?;
    check(stat(b"/tmp/names-d\0") == Err(Errno::ENOENT), "the directory is gone")?;
    // Bad pointers.
    for bad in [0, UNMAPPED_ADDRESS, KERNEL_ADDRESS] {
        // SAFETY: the kernel must refuse these addresses.
        let r = unsafe { (syscall::mkdir(bad, 0o755), syscall::unlink(bad), syscall::rmdir(bad)) };
        check(r == (Err(Errno::EFAULT), Err(Errno::EFAULT), Err(Errno::EFAULT)), "bad paths: EFAULT")?;
    }
    Ok(())
}

fn renames(_: &Args) -> Result<(), &'static str> {
    check(mkdir(b"/tmp/rn-a\0", 0o755) == Ok(()) && mkdir(b"/tmp/rn-b\0", 0o755) == Ok(()), "mkdirs")?;
    make_file(b"/tmp/rn-a/f\0", b"moved")?;
    make_file(b"/tmp/rn-b/g\0", b"old")?;
    let ino = stat(b"/tmp/rn-a/f\0").map_err(|_| "stat")?.st_ino;
    check(rename(b"/tmp/rn-a/f\0", b"/tmp/rn-b/g\0") == Ok(()), "rename over an existing file")?;
    let st = stat(b"/tmp/rn-b/g\0").map_err(|_| "stat the target")?;
    check(st.st_ino == ino && st.st_size == 5, "the target is the moved file")?;
    check(stat(b"/tmp/rn-a/f\0") == Err(Errno::ENOENT), "the old name is gone")?;
    check(mkdir(b"/tmp/rn-a/sub\0", 0o755) == Ok(()), "mkdir sub")?;
    check(rename(b"/tmp/rn-b/g\0", b"/tmp/rn-a/sub\0") == Err(Errno::EISDIR), "a file onto a directory")?;
    check(rename(b"/tmp/rn-a/sub\0", b"/tmp/rn-b/g\0") == Err(Errno::ENOTDIR), "a directory onto a file")?;
    check(rename(b"/tmp/rn-a\0", b"/tmp/rn-a/sub/x\0") == Err(Errno::EINVAL), "into its own subtree")?;
    check(rename(b"/tmp/rn-a/sub\0", b"/tmp/rn-b/sub\0") == Ok(()), "move a directory")?;
    check(
        stat(b"/tmp/rn-b/sub/..\0").map(|s| s.st_ino) == stat(b"/tmp/rn-b\0").map(|s| s.st_ino),
        "its .. moved",
    )?;
    check(rename(b"/tmp/rn-a\0", b"/tmp/rn-b\0") == Err(Errno::ENOTEMPTY), "onto a non-empty directory")?;
    check(rename(b"/tmp/rn-missing\0", b"/tmp/rn-x\0") == Err(Errno::ENOENT), "a missing source")?;
    check(rename(b"/tmp/rn-b/g\0", b"/tmp/rn-b/g\0") == Ok(()), "a file onto itself")?;
    let _ = unlink(b"/tmp/rn-b/g\0");
    check(rmdir(b"/tmp/rn-b/sub\0") == Ok(()) && rmdir(b"/tmp/rn-b\0") == Ok(()), "clean up rn-b")?;
    check(
        rename(b"/tmp/rn-a\0", b"/tmp/rn-c\0") == Ok(()) && rmdir(b"/tmp/rn-c\0") == Ok(()),
        "rename then rmdir",
    )
}

fn stats(_: &Args) -> Result<(), &'static str> {
    let st = stat(b"/bin/not-elf\0").map_err(|_| "stat /bin/not-elf")?;
    check(st.st_mode & S_IFMT == S_IFREG && st.st_size == 15, "a regular file of 15 bytes")?;
    check(st.st_blksize > 0 && st.st_ino != 0 && st.st_nlink >= 1, "blksize, ino, nlink")?;
    let fd = open_path(b"/bin/not-elf\0", O_RDONLY, 0).map_err(|_| "open")?;
    check(fstat(fd).map(|s| (s.st_ino, s.st_size)) == Ok((st.st_ino, 15)), "fstat agrees with stat")?;
    let _ = close(fd);
    check(stat(b"/\0").map(|s| s.st_mode & S_IFMT) == Ok(S_IFDIR), "/ is a directory")?;
    check(stat(b"/no/such\0") == Err(Errno::ENOENT), "stat of a missing file")?;
    check(stat(b"/bin/not-elf/x\0") == Err(Errno::ENOTDIR), "stat through a file")?;
    check(fstat(250) == Err(Errno::EBADF), "fstat of a closed descriptor")?;
    check(lstat(b"/\0").map(|s| s.st_ino) == Ok(stat(b"/\0").map_err(|_| "stat /")?.st_ino), "lstat of /")?;
    // SAFETY: the kernel must refuse these addresses for the buffer.
    let r = unsafe { syscall::stat64(c"/bin/not-elf".as_ptr() as u64, KERNEL_ADDRESS) };
    check(r == Err(Errno::EFAULT), "stat into the kernel: EFAULT")?;
    // SAFETY: as above.
    let r = unsafe { syscall::fstat64(0, UNMAPPED_ADDRESS) };
    check(r == Err(Errno::EFAULT), "fstat into nothing: EFAULT")
}

fn seeks(_: &Args) -> Result<(), &'static str> {
    let fd = open_path(b"/bin/not-elf\0", O_RDONLY, 0).map_err(|_| "open")?;
    let mut b = [0u8; 4];
    check(syscall::lseek(fd, 5, SEEK_SET) == Ok(5), "SEEK_SET 5")?;
    check(read_bytes(fd, &mut b) == Ok(4) && &b == b"some", "read at 5")?;
    check(syscall::lseek(fd, -4, SEEK_CUR) == Ok(5), "SEEK_CUR -4")?;
    check(syscall::lseek(fd, 0, SEEK_END) == Ok(15), "SEEK_END")?;
    check(syscall::lseek(fd, 100, SEEK_END) == Ok(115), "past the end is allowed")?;
    check(read_bytes(fd, &mut b) == Ok(0), "reading past the end: 0")?;
    check(syscall::lseek(fd, -1, SEEK_SET) == Err(Errno::EINVAL), "before the start: EINVAL")?;
    check(syscall::lseek(fd, 0, 7) == Err(Errno::EINVAL), "a bad whence: EINVAL")?;
    check(syscall::lseek(fd, 0, SEEK_CUR) == Ok(115), "a failed seek moves nothing")?;
    check(syscall::lseek(250, 0, SEEK_SET) == Err(Errno::EBADF), "a closed descriptor")?;
    check(syscall::lseek(1, 0, SEEK_SET) == Err(Errno::ESPIPE), "the console does not seek")?;
    let _ = close(fd);
    Ok(())
}

/// One record as the test keeps it: its name's bytes, the name's length, its `d_type`.
type Record = ([u8; 32], usize, u8);

/// The records of one getdirentries64 call (up to 16), and how many there were.
fn names_in(buf: &[u8]) -> Result<([Record; 16], usize), &'static str> {
    let mut out = [([0u8; 32], 0usize, 0u8); 16];
    let (mut at, mut n) = (0, 0);
    while at < buf.len() {
        let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
        let namlen = u16::from_le_bytes([buf[at + 18], buf[at + 19]]) as usize;
        check(reclen == (namlen + 32) & !7 && reclen > 0, "d_reclen is XNU's DIRENT64_LEN")?;
        check(buf[at + 21 + namlen] == 0, "the name ends with a NUL")?;
        check(u64::from_le_bytes(buf[at..at + 8].try_into().unwrap()) != 0, "d_ino is never 0")?;
        if n < 16 && namlen <= 32 {
            out[n].0[..namlen].copy_from_slice(&buf[at + 21..at + 21 + namlen]);
            out[n].1 = namlen;
            out[n].2 = buf[at + 20];
            n += 1;
        }
        at += reclen;
    }
    Ok((out, n))
}

fn getdirentries(fd: i32, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
    // SAFETY: `buf` and `pos` are valid and writable.
    unsafe {
        syscall::getdirentries64(fd, buf.as_mut_ptr() as u64, buf.len(), core::ptr::from_mut(pos) as u64)
            .map(|n| n as usize)
    }
}

fn directory_records(_: &Args) -> Result<(), &'static str> {
    check(mkdir(b"/tmp/gd\0", 0o755) == Ok(()), "mkdir")?;
    make_file(b"/tmp/gd/b-file\0", b"")?;
    check(mkdir(b"/tmp/gd/a-dir\0", 0o755) == Ok(()), "mkdir a-dir")?;
    let fd = open_path(b"/tmp/gd\0", O_RDONLY | O_DIRECTORY, 0).map_err(|_| "open the directory")?;
    let mut buf = [0u8; 2048];
    let mut pos = -1i64;
    let n = getdirentries(fd, &mut buf, &mut pos).map_err(|_| "getdirentries64")?;
    check(pos == 0, "*position: where the read started")?;
    let (names, count) = names_in(&buf[..n])?;
    let name = |i: usize| &names[i].0[..names[i].1];
    check(count == 4, "., .., a-dir, b-file")?;
    check(name(0) == b"." && name(1) == b".." && names[0].2 == 4, ". and .. first, DT_DIR")?;
    check(name(2) == b"a-dir" && names[2].2 == 4, "a-dir is DT_DIR")?;
    check(name(3) == b"b-file" && names[3].2 == 8, "b-file is DT_REG")?;
    let flags = u32::from_le_bytes(buf[2044..2048].try_into().unwrap());
    check(flags & 1 == 1, "the EOF flag in the last word of a 2 KiB buffer")?;
    check(getdirentries(fd, &mut buf, &mut pos) == Ok(0) && pos == 4, "then 0 bytes, from offset 4")?;
    // A small buffer takes whole records only, and the offset resumes after them.
    check(syscall::lseek(fd, 0, SEEK_SET) == Ok(0), "rewind")?;
    let mut small = [0u8; 40];
    check(getdirentries(fd, &mut small, &mut pos) == Ok(32), "one 32-byte record fits in 40 bytes")?;
    check(getdirentries(fd, &mut small[..8], &mut pos) == Err(Errno::EINVAL), "no room for a record")?;
    let _ = close(fd);
    let file = open_path(b"/bin/not-elf\0", O_RDONLY, 0).map_err(|_| "open a file")?;
    check(getdirentries(file, &mut buf, &mut pos) == Err(Errno::ENOTDIR), "not a directory")?;
    check(read_bytes(file, &mut buf[..1]).is_ok(), "files still read")?;
    let _ = close(file);
    check(open_path(b"/bin/not-elf\0", O_RDONLY | O_DIRECTORY, 0) == Err(Errno::ENOTDIR), "O_DIRECTORY")?;
    let d = open_path(b"/tmp/gd\0", O_RDONLY, 0).map_err(|_| "open the directory again")?;
    check(read_bytes(d, &mut buf) == Err(Errno::EISDIR), "read of a directory: EISDIR")?;
    let _ = close(d);
    check(getdirentries(250, &mut buf, &mut pos) == Err(Errno::EBADF), "a closed descriptor")?;
    check(unlink(b"/tmp/gd/b-file\0") == Ok(()) && rmdir(b"/tmp/gd/a-dir\0") == Ok(()), "clean up")?;
    check(rmdir(b"/tmp/gd\0") == Ok(()), "rmdir /tmp/gd")
}

fn unlink_open_and_sticky(_: &Args) -> Result<(), &'static str> {
    make_file(b"/tmp/names-open\0", b"still here")?;
    let fd = open_path(b"/tmp/names-open\0", O_RDONLY, 0).map_err(|_| "open")?;
    check(unlink(b"/tmp/names-open\0") == Ok(()), "unlink an open file")?;
    check(stat(b"/tmp/names-open\0") == Err(Errno::ENOENT), "the name is gone")?;
    let mut b = [0u8; 16];
    check(read_bytes(fd, &mut b) == Ok(10) && &b[..10] == b"still here", "the open file still reads")?;
    let _ = close(fd);
    // Root's file in the sticky /tmp: uid 501 may not remove or rename it.
    make_file(b"/tmp/names-roots\0", b"r")?;
    let status = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            if setuid(501).is_err() {
                exit_process(1);
            }
            if unlink(b"/tmp/names-roots\0") != Err(Errno::EPERM) {
                exit_process(2);
            }
            if rename(b"/tmp/names-roots\0", b"/tmp/names-mine\0") != Err(Errno::EPERM) {
                exit_process(3);
            }
            // Its own file it may remove.
            let Ok(fd) = open_path(b"/tmp/names-501\0", O_WRONLY | O_CREAT, 0o644) else { exit_process(4) };
            let _ = close(fd);
            if unlink(b"/tmp/names-501\0").is_err() {
                exit_process(5);
            }
            // And nothing outside /tmp.
            exit_process(if unlink(b"/bin/not-elf\0") == Err(Errno::EACCES) { 0 } else { 6 })
        }
        Forked::Parent(pid) => waitpid(pid, 0).map_err(|_| "wait4")?.1,
    };
    check(wifexited(status) && wexitstatus(status) == 0, "the sticky-bit rules (see the child's status)")?;
    check(unlink(b"/tmp/names-roots\0") == Ok(()), "root removes its file")
}

/// The file the racers move between [`RACE_A`] and [`RACE_B`], and what it holds.
const RACE_DIR: &[u8] = b"/tmp/race\0";
const RACE_A: &[u8] = b"/tmp/race/a\0";
const RACE_B: &[u8] = b"/tmp/race/b\0";
const RACE_TEXT: &[u8] = b"one file, two names, never both";
const RACE_ROUNDS: usize = 300;

/// A racer: moves the file from `from` to `to` whenever it finds it there; exits 0 if
/// every rename either worked or found the file already gone (ENOENT), nothing else.
fn racer(from: &'static [u8], to: &'static [u8]) -> i32 {
    for _ in 0..RACE_ROUNDS {
        match rename(from, to) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(_) => return 1,
        }
    }
    0
}

fn rename_races(_: &Args) -> Result<(), &'static str> {
    let _ = (unlink(RACE_A), unlink(RACE_B), rmdir(RACE_DIR));
    mkdir(RACE_DIR, 0o755).map_err(|_| "mkdir")?;
    make_file(RACE_A, RACE_TEXT)?;
    let ino = stat(RACE_A).map_err(|_| "stat")?.st_ino;
    let mut pids = [0i32; 3];
    for (i, pid) in pids.iter_mut().enumerate() {
        *pid = match fork().map_err(|_| "fork")? {
            Forked::Child => exit_process(match i {
                0 => racer(RACE_A, RACE_B),
                1 => racer(RACE_B, RACE_A),
                _ => {
                    // The reader: whichever name it finds open, the bytes are the file's.
                    let mut bad = 0;
                    for _ in 0..RACE_ROUNDS {
                        for name in [RACE_A, RACE_B] {
                            if let Ok(fd) = open_path(name, O_RDONLY, 0) {
                                let mut b = [0u8; 64];
                                let n = read_bytes(fd, &mut b).unwrap_or(0) as usize;
                                if &b[..n] != RACE_TEXT {
                                    bad += 1;
                                }
                                let _ = close(fd);
                            }
                        }
                    }
                    i32::from(bad != 0)
                }
            }),
            Forked::Parent(pid) => pid,
        };
    }
    for pid in pids {
        let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
        check(wifexited(status) && wexitstatus(status) == 0, "a racer saw an error or wrong bytes")?;
    }
    // Exactly one name is left, naming the same file with one link.
    let (a, b) = (stat(RACE_A), stat(RACE_B));
    check(a.is_ok() != b.is_ok(), "exactly one of the two names exists")?;
    let st = a.or(b).map_err(|_| "stat the survivor")?;
    check(st.st_ino == ino && st.st_nlink == 1 && st.st_size == RACE_TEXT.len() as i64, "the same file")?;
    let fd = open_path(RACE_DIR, O_RDONLY | O_DIRECTORY, 0).map_err(|_| "open dir")?;
    let mut buf = [0u8; 1024];
    let mut pos = 0i64;
    let n = getdirentries(fd, &mut buf, &mut pos).map_err(|_| "getdirentries64")?;
    let _ = close(fd);
    let (records, count) = names_in(&buf[..n])?;
    let names = records[..count].iter().filter(|r| &r.0[..r.1] != b"." && &r.0[..r.1] != b"..").count();
    check(names == 1, "the directory lists one entry")?;
    let _ = (unlink(RACE_A), unlink(RACE_B));
    rmdir(RACE_DIR).map_err(|_| "rmdir: empty again")
}
