//! devfs and /tmp (issue 15, B4 item 3): `/dev/null`, `/dev/zero`, `/dev/urandom`,
//! `/dev/random`, `/dev/fd/N` as XNU's devfs and fdesc behave, and `/tmp` a file system of
//! its own that a user may write to.

use libsys::Args;
use libsys::Errno;
use libsys::syscall::{close, open_path, read_bytes, write_bytes};
use sys::fcntl::*;

use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("/dev/null reads end of file and swallows writes", dev_null),
    ("/dev/zero reads zeros; /dev/urandom never the same bytes twice, refuses writes", zero_and_urandom),
    ("/dev/fd/N shares descriptor N; EBADF if N is not open; EACCES for more access", dev_fd),
    ("every /dev name opens; /dev/full does not exist", dev_names),
    ("/tmp is writable, a file system of its own", tmp_writable),
];

fn dev_null(_: &Args) -> Result<(), &'static str> {
    let fd = open_path(b"/dev/null\0", O_RDWR, 0).map_err(|_| "open /dev/null")?;
    let mut buf = [7u8; 64];
    check(read_bytes(fd, &mut buf) == Ok(0), "read of /dev/null is not EOF")?;
    check(write_bytes(fd, &[1u8; 5000]) == Ok(5000), "write to /dev/null not all taken")?;
    check(write_bytes(fd, b"x") == Ok(1), "1-byte write to /dev/null")?;
    close(fd).map_err(|_| "close")?;
    Ok(())
}

fn zero_and_urandom(_: &Args) -> Result<(), &'static str> {
    let fd = open_path(b"/dev/zero\0", O_RDWR, 0).map_err(|_| "open /dev/zero")?;
    let mut buf = [7u8; 6000];
    check(read_bytes(fd, &mut buf) == Ok(6000), "read of /dev/zero short")?;
    check(buf.iter().all(|&b| b == 0), "/dev/zero gave non-zero bytes")?;
    check(write_bytes(fd, &buf[..10]) == Ok(10), "write to /dev/zero")?;
    close(fd).map_err(|_| "close")?;
    let fd = open_path(b"/dev/urandom\0", O_RDWR, 0).map_err(|_| "open /dev/urandom")?;
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    check(read_bytes(fd, &mut a) == Ok(32) && read_bytes(fd, &mut b) == Ok(32), "urandom reads")?;
    check(a != b && a != [0; 32], "urandom repeated itself")?;
    check(write_bytes(fd, b"x") == Err(Errno::EPERM), "write to urandom not EPERM")?;
    close(fd).map_err(|_| "close")?;
    let fd = open_path(b"/dev/random\0", O_RDWR, 0).map_err(|_| "open /dev/random")?;
    check(write_bytes(fd, b"entropy") == Ok(7), "write to /dev/random not taken")?;
    check(read_bytes(fd, &mut a) == Ok(32) && a != b, "random read")?;
    close(fd).map_err(|_| "close")?;
    Ok(())
}

fn dev_fd(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/devfs-fd\0";
    let fd = open_path(path, O_RDWR | O_CREAT | O_TRUNC, 0o644).map_err(|_| "create")?;
    let _ = write_bytes(fd, b"abcdef");
    let mut name = *b"/dev/fd/000\0";
    let digits = [b'0' + (fd / 100) as u8, b'0' + (fd / 10 % 10) as u8, b'0' + (fd % 10) as u8];
    let first = digits.iter().position(|&d| d != b'0').unwrap_or(2);
    let mut len = 8;
    for &d in &digits[first..] {
        name[len] = d;
        len += 1;
    }
    name[len] = 0;
    let dup = open_path(&name[..=len], O_RDONLY, 0).map_err(|_| "open /dev/fd/N")?;
    // The description is shared: its offset is at 6 after the write.
    let mut buf = [0u8; 8];
    check(read_bytes(dup, &mut buf) == Ok(0), "/dev/fd/N did not share the offset")?;
    close(dup).map_err(|_| "close dup")?;
    close(fd).map_err(|_| "close")?;
    check(open_path(&name[..=len], O_RDONLY, 0) == Err(Errno::EBADF), "closed N not EBADF")?;
    let ro = open_path(path, O_RDONLY, 0).map_err(|_| "reopen")?;
    let mut name = *b"/dev/fd/000\0";
    let n = ro as u8;
    let (s, l) = if n >= 10 { ([b'0' + n / 10, b'0' + n % 10], 2) } else { ([b'0' + n, 0], 1) };
    name[8..8 + l].copy_from_slice(&s[..l]);
    name[8 + l] = 0;
    check(open_path(&name[..=8 + l], O_RDWR, 0) == Err(Errno::EACCES), "more access not EACCES")?;
    close(ro).map_err(|_| "close ro")?;
    Ok(())
}

fn dev_names(_: &Args) -> Result<(), &'static str> {
    for name in [
        &b"/dev/null\0"[..],
        b"/dev/zero\0",
        b"/dev/random\0",
        b"/dev/urandom\0",
        b"/dev/console\0",
        b"/dev/tty\0",
    ] {
        let fd = open_path(name, O_RDONLY, 0).map_err(|_| "a /dev name did not open")?;
        close(fd).map_err(|_| "close")?;
    }
    check(open_path(b"/dev/full\0", O_RDONLY, 0) == Err(Errno::ENOENT), "/dev/full exists")?;
    check(open_path(b"/dev/fd/x\0", O_RDONLY, 0) == Err(Errno::ENOENT), "/dev/fd/x not ENOENT")?;
    Ok(())
}

fn tmp_writable(_: &Args) -> Result<(), &'static str> {
    let fd =
        open_path(b"/tmp/devfs-tmp\0", O_RDWR | O_CREAT | O_EXCL, 0o644).map_err(|_| "create in /tmp")?;
    check(write_bytes(fd, &[3u8; 10000]) == Ok(10000), "write to /tmp")?;
    close(fd).map_err(|_| "close")?;
    Ok(())
}
