//! Open files (issue 15, B4 item 1): the status flags of an open file description
//! (`fcntl(F_GETFL/F_SETFL)`, shared by `dup`, XNU's values and errors), appends from two
//! processes landing whole, and reads and writes of more than one chunk in one call.

use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::{close, dup, exit_process, fcntl, open_path, read_bytes, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::*;
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("fcntl F_GETFL / F_SETFL: values, dup sharing, EBADF, bad cmd EINVAL", status_flags),
    ("O_APPEND set by F_SETFL writes at the end", setfl_append),
    ("O_APPEND from two processes: every record lands whole", two_appenders),
    ("a read of more than 4 KiB from the initrd in one call", big_read),
    ("a console write of more than 4 KiB in one call", big_console_write),
    ("a non-blocking console read with no line typed is EAGAIN", console_nonblocking_read),
    ("a file is its creator's: owner bits for uid 501, other bits for uid 502", creator_owns),
];

fn getfl(fd: i32) -> Result<u32, Errno> {
    fcntl(fd, F_GETFL, 0).map(|v| v as u32)
}

fn setfl(fd: i32, flags: u32) -> Result<(), Errno> {
    fcntl(fd, F_SETFL, i64::from(flags)).map(drop)
}

fn status_flags(_: &Args) -> Result<(), &'static str> {
    let fd = open_path(b"/tmp/files-flags\0", O_RDWR | O_CREAT | O_APPEND, 0o644).map_err(|_| "open")?;
    check(
        getfl(fd) == Ok(O_RDWR | O_APPEND),
        "F_GETFL after open: the access mode and O_APPEND, no O_CREAT",
    )?;
    // The access mode and the creation bits in the argument are ignored.
    check(setfl(fd, O_WRONLY | O_NONBLOCK | O_CREAT | O_TRUNC) == Ok(()), "F_SETFL")?;
    check(getfl(fd) == Ok(O_RDWR | O_NONBLOCK), "O_APPEND off, O_NONBLOCK on, still O_RDWR")?;
    // Status flags belong to the open file description: a dup sees them, and changes them.
    let other = dup(fd as u32).map_err(|_| "dup")? as i32;
    check(getfl(other) == Ok(O_RDWR | O_NONBLOCK), "the dup shares the status flags")?;
    check(setfl(other, O_APPEND) == Ok(()), "F_SETFL on the dup")?;
    check(getfl(fd) == Ok(O_RDWR | O_APPEND), "the original sees the dup's change")?;
    // Descriptor flags do not: FD_CLOEXEC stays per descriptor.
    check(fcntl(other, F_SETFD, i64::from(FD_CLOEXEC)) == Ok(0), "F_SETFD")?;
    check(fcntl(fd, F_GETFD, 0) == Ok(0), "close-on-exec is per descriptor")?;
    check(getfl(fd) == Ok(O_RDWR | O_APPEND), "F_SETFD leaves the status flags")?;
    let ro = open_path(b"/tmp/files-flags\0", O_RDONLY, 0).map_err(|_| "open read-only")?;
    check(getfl(ro) == Ok(O_RDONLY), "a second open has its own flags")?;
    check(getfl(0) == Ok(O_RDWR), "the console is open for reading and writing")?;
    // Errors: a bad descriptor is EBADF for either command; an unknown command EINVAL.
    check(getfl(-1) == Err(Errno::EBADF), "F_GETFL on -1")?;
    check(getfl(200) == Err(Errno::EBADF), "F_GETFL on a closed descriptor")?;
    check(setfl(200, O_APPEND) == Err(Errno::EBADF), "F_SETFL on a closed descriptor")?;
    check(fcntl(fd, 12345, 0) == Err(Errno::EINVAL), "an unknown command")?;
    check(fcntl(200, 12345, 0) == Err(Errno::EBADF), "a bad descriptor before a bad command")?;
    for f in [fd, other, ro] {
        let _ = close(f);
    }
    Ok(())
}

fn setfl_append(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/files-setfl-append\0";
    let a = open_path(path, O_RDWR | O_CREAT | O_EXCL, 0o644).map_err(|_| "open")?;
    let b = open_path(path, O_RDWR, 0).map_err(|_| "second open")?;
    check(write_bytes(a, b"hello") == Ok(5), "write")?;
    // b's offset is 0; with O_APPEND its write goes after "hello" instead of over it.
    check(setfl(b, O_APPEND) == Ok(()), "F_SETFL O_APPEND")?;
    check(write_bytes(b, b"XY") == Ok(2), "append")?;
    check(setfl(b, 0) == Ok(()), "F_SETFL 0")?;
    let mut buf = [0u8; 16];
    check(read_bytes(b, &mut buf) == Ok(0), "b's offset was left at the end")?;
    let r = open_path(path, O_RDONLY, 0).map_err(|_| "third open")?;
    check(read_bytes(r, &mut buf) == Ok(7), "seven bytes")?;
    check(&buf[..7] == b"helloXY", "the append went to the end")?;
    for f in [a, b, r] {
        let _ = close(f);
    }
    Ok(())
}

/// Records each appender writes.
const RECORDS: usize = 300;
/// Bytes per record: "<who> <seq, 6 digits> ........\n".
const RECORD_LEN: usize = 24;

fn record(who: u8, seq: usize) -> [u8; RECORD_LEN] {
    let mut r = [b'.'; RECORD_LEN];
    r[0] = who;
    r[1] = b' ';
    let mut n = seq;
    for i in (2..8).rev() {
        r[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    r[8] = b' ';
    r[RECORD_LEN - 1] = b'\n';
    r
}

fn append_all(fd: i32, who: u8) -> bool {
    (0..RECORDS).all(|seq| write_bytes(fd, &record(who, seq)) == Ok(RECORD_LEN as u64))
}

fn two_appenders(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/files-two-appenders\0";
    let fd = open_path(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0o644).map_err(|_| "open")?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // The child appends through the shared description and, from half-way, through
            // one of its own: both must find the end.
            let own = open_path(path, O_WRONLY | O_APPEND, 0);
            let ok = match own {
                Ok(own) => (0..RECORDS).all(|seq| {
                    let through = if seq % 2 == 0 { fd } else { own };
                    write_bytes(through, &record(b'c', seq)) == Ok(RECORD_LEN as u64)
                }),
                Err(_) => false,
            };
            exit_process(i32::from(!ok))
        }
        Forked::Parent(pid) => pid,
    };
    let mine = append_all(fd, b'p');
    let (_, status) = waitpid(child, 0).map_err(|_| "wait4")?;
    check(mine, "the parent's appends")?;
    check(wifexited(status) && wexitstatus(status) == 0, "the child's appends")?;
    let _ = close(fd);

    let r = open_path(path, O_RDONLY, 0).map_err(|_| "open to read")?;
    let mut rec = [0u8; RECORD_LEN];
    let (mut next_p, mut next_c) = (0, 0);
    loop {
        match read_bytes(r, &mut rec) {
            Ok(0) => break,
            Ok(n) if n as usize == RECORD_LEN => {}
            _ => return Err("a record cut short"),
        }
        let next = match rec[0] {
            b'p' => &mut next_p,
            b'c' => &mut next_c,
            _ => return Err("a record overwritten"),
        };
        check(rec == record(rec[0], *next), "a record damaged or out of its writer's order")?;
        *next += 1;
    }
    let _ = close(r);
    check(next_p == RECORDS && next_c == RECORDS, "the file holds 2N records")
}

/// A program in the initrd, longer than several chunks.
const BIG_FILE: &[u8] = b"/bin/utest\0";
/// Bytes read in one call.
const BIG_READ: usize = 20_000;

fn big_read(_: &Args) -> Result<(), &'static str> {
    let mut whole = [0u8; BIG_READ];
    let a = open_path(BIG_FILE, O_RDONLY, 0).map_err(|_| "open")?;
    check(read_bytes(a, &mut whole) == Ok(BIG_READ as u64), "one read returns all 20000 bytes")?;
    check(whole[..4] == *b"\x7fELF", "it is the program")?;
    // The same bytes, read through another description in pieces.
    let b = open_path(BIG_FILE, O_RDONLY, 0).map_err(|_| "second open")?;
    let mut piece = [0u8; 3000];
    let mut at = 0;
    while at < BIG_READ {
        let want = piece.len().min(BIG_READ - at);
        let n = read_bytes(b, &mut piece[..want]).map_err(|_| "piecewise read")? as usize;
        check(n == want, "a regular file is never read short before its end")?;
        check(piece[..n] == whole[at..at + n], "the one read and the pieces agree")?;
        at += n;
    }
    // Reading continued where the big read stopped.
    let mut next_a = [0u8; 16];
    let mut next_b = [0u8; 16];
    check(read_bytes(a, &mut next_a) == Ok(16) && read_bytes(b, &mut next_b) == Ok(16), "more")?;
    check(next_a == next_b, "both offsets are at 20000")?;
    let _ = (close(a), close(b));
    Ok(())
}

/// Lines in the big console write, and bytes per line.
const CONSOLE_LINES: usize = 100;
const CONSOLE_LINE: usize = 90;

fn big_console_write(_: &Args) -> Result<(), &'static str> {
    let mut out = [b'-'; CONSOLE_LINES * CONSOLE_LINE];
    for (i, line) in out.chunks_mut(CONSOLE_LINE).enumerate() {
        let head = b"  (one 9000-byte console write, line ";
        line[..head.len()].copy_from_slice(head);
        line[head.len()] = b'0' + (i / 10) as u8;
        line[head.len() + 1] = b'0' + (i % 10) as u8;
        line[head.len() + 2] = b')';
        line[CONSOLE_LINE - 1] = b'\n';
    }
    check(write_bytes(1, &out) == Ok(out.len() as u64), "all 9000 bytes in one call")
}

fn console_nonblocking_read(_: &Args) -> Result<(), &'static str> {
    // fd 0 shares its description with 1 and 2: O_NONBLOCK is set for all three, then
    // cleared again before anything else reads.
    let before = getfl(0).map_err(|_| "F_GETFL")?;
    check(setfl(0, before | O_NONBLOCK) == Ok(()), "F_SETFL O_NONBLOCK on the console")?;
    check(getfl(2) == Ok(before | O_NONBLOCK), "stderr shares the console's description")?;
    let mut buf = [0u8; 64];
    // Nobody types during the tests; if a line did arrive, it is returned instead of waiting.
    let got = read_bytes(0, &mut buf);
    let restored = setfl(0, before);
    check(restored == Ok(()) && getfl(0) == Ok(before), "O_NONBLOCK cleared again")?;
    check(matches!(got, Err(Errno::EAGAIN) | Ok(1..)), "EAGAIN instead of waiting for a line")
}

/// A process of uid `uid` (a forked child that drops root) runs `f`; its exit status.
fn as_uid(uid: u32, f: impl FnOnce() -> i32) -> Result<i32, &'static str> {
    crate::proc::in_child(|| {
        if libsys::syscall::setuid(uid).is_err() {
            return 90;
        }
        f()
    })
}

/// XNU gives a new file its creator's effective uid, and judges each later open by the class
/// the opener falls in: the owner by the owner bits (even against the mode it gave), others
/// by the other bits. /tmp is 1777, so uid 501 may create there.
fn creator_owns(_: &Args) -> Result<(), &'static str> {
    const PATH: &[u8] = b"/tmp/owned-by-501\0";
    let made = as_uid(501, || {
        let Ok(fd) = open_path(PATH, O_WRONLY | O_CREAT | O_EXCL, 0o600) else { return 1 };
        let _ = close(fd);
        // The owner bits (rw-) let the creator open it again for reading and writing.
        match open_path(PATH, O_RDWR, 0) {
            Ok(fd) => {
                let _ = close(fd);
                0
            }
            Err(_) => 2,
        }
    })?;
    check(
        wifexited(made) && wexitstatus(made) == 0,
        "uid 501 could not create and reopen its own 0600 file",
    )?;
    let other = as_uid(502, || match open_path(PATH, O_RDONLY, 0) {
        Err(Errno::EACCES) => 0,
        Ok(_) => 1,
        Err(_) => 2,
    })?;
    check(wifexited(other) && wexitstatus(other) == 0, "uid 502 may not read a 0600 file of uid 501")?;
    // Root reads anything.
    let fd = open_path(PATH, O_RDONLY, 0).map_err(|_| "root could not open the file")?;
    let _ = close(fd);
    Ok(())
}
