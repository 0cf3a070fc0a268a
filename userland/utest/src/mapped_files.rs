//! `mmap` of files (issue 15, B4 VFS, item 4): a file's pages are one VM object that `read`,
//! `write` and every mapping share (XNU's unified buffer cache). MAP_SHARED stores reach the
//! file and other mappers; MAP_PRIVATE is copy-on-write; touching a page wholly past the
//! end is SIGBUS; and the errors of XNU's `kern_mman.c` (EACCES, ENODEV, EINVAL, EBADF).

use libsys::process::pipe;
use libsys::syscall::{self, close, ftruncate, mmap, mprotect, msync, munmap, open_path, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::*;
use sys::mman::*;
use sys::signal::SIGBUS;
use sys::wait::{wexitstatus, wifexited};

use crate::check;
use crate::proc::in_child;
use crate::robust::killed_by;

const PAGE: usize = 4096;

pub const CASES: &[(&str, crate::Case)] = &[
    ("mmap MAP_SHARED of a file: stores reach read() and other mappers, write() reaches them", shared),
    ("mmap MAP_PRIVATE of a file: copy-on-write, an unaligned offset, fork", private),
    ("mmap past the end of a file: SIGBUS, a zero tail, ftruncate while mapped", past_the_end),
    ("mmap of files: EACCES, ENODEV, EINVAL, EBADF; no write right on a read-only sharing", errors),
    ("msync: file pages are the file's (nothing to flush); EINVAL, ENOMEM", msync_calls),
];

/// A fresh file at `path` holding `len` bytes of a pattern (byte i is `i % 251`), open
/// with `oflag`.
fn pattern_file(path: &[u8], len: usize, oflag: u32) -> Result<i32, &'static str> {
    // SAFETY: `path` is NUL-terminated.
    let _ = unsafe { syscall::unlink(path.as_ptr() as u64) };
    let fd = open_path(path, O_RDWR | O_CREAT | O_TRUNC, 0o644).map_err(|_| "create the file")?;
    let mut chunk = [0u8; 512];
    let mut at = 0;
    while at < len {
        let n = chunk.len().min(len - at);
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = ((at + i) % 251) as u8;
        }
        check(write_bytes(fd, &chunk[..n]) == Ok(n as u64), "write the pattern")?;
        at += n;
    }
    if oflag == O_RDWR {
        return Ok(fd);
    }
    let _ = close(fd);
    open_path(path, oflag, 0).map_err(|_| "reopen the file")
}

fn pread(fd: i32, buf: &mut [u8], off: i64) -> Result<u64, Errno> {
    // SAFETY: `buf` is writable for its length.
    unsafe { syscall::pread(fd, buf.as_mut_ptr() as u64, buf.len(), off) }
}

fn pwrite(fd: i32, buf: &[u8], off: i64) -> Result<u64, Errno> {
    // SAFETY: `buf` is readable for its length.
    unsafe { syscall::pwrite(fd, buf.as_ptr() as u64, buf.len(), off) }
}

fn peek(addr: u64) -> u8 {
    // SAFETY: the callers pass addresses inside a readable mapping they made.
    unsafe { (addr as *const u8).read_volatile() }
}

fn poke(addr: u64, val: u8) {
    // SAFETY: the callers pass addresses inside a writable mapping they made.
    unsafe { (addr as *mut u8).write_volatile(val) }
}

fn map(len: usize, prot: i32, flags: i32, fd: i32, pos: i64) -> Result<u64, Errno> {
    // SAFETY: no memory of ours is passed; a new mapping is placed anywhere.
    unsafe { mmap(0, len, prot, flags, fd, pos) }
}

fn unmap(addr: u64, len: usize) -> Result<(), &'static str> {
    // SAFETY: the callers unmap only mappings they made and no longer use.
    check(unsafe { munmap(addr, len) } == Ok(0), "munmap")
}

fn shared(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/mmap-shared\0";
    let len = 2 * PAGE + 100;
    let fd = pattern_file(path, len, O_RDWR)?;
    let rw = PROT_READ | PROT_WRITE;
    let a = map(3 * PAGE, rw, MAP_SHARED, fd, 0).map_err(|_| "mmap MAP_SHARED")?;
    check(a % PAGE as u64 == 0, "the mapping is page aligned")?;
    check((0..len).all(|i| peek(a + i as u64) == (i % 251) as u8), "the mapping shows the file")?;
    // A store through the mapping is the file's data at once (no msync needed).
    poke(a + PAGE as u64 + 1, 0xA5);
    let mut b = [0u8; 1];
    check(pread(fd, &mut b, PAGE as i64 + 1) == Ok(1) && b[0] == 0xA5, "read() sees a store")?;
    // And write() is seen by the mapping.
    check(pwrite(fd, b"W", 7) == Ok(1), "pwrite")?;
    check(peek(a + 7) == b'W', "the mapping sees write()")?;
    // A second mapping, in another process, sees the same pages.
    let status = in_child(|| {
        let Ok(c) = map(PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PAGE as i64) else { return 1 };
        if peek(c + 1) != 0xA5 {
            return 2;
        }
        poke(c + 2, 0x5A);
        // The mapping inherited across fork is the same object too.
        poke(a + 3, 0x33);
        0
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "the child's mapping of the file")?;
    check(peek(a + PAGE as u64 + 2) == 0x5A, "the child's store through its own mapping")?;
    check(peek(a + 3) == 0x33, "the child's store through the inherited mapping")?;
    // read() and write() whose buffers are a mapping of the same file.
    check(pwrite(fd, b"xyz", 2 * PAGE as i64) == Ok(3), "pwrite the last page")?;
    // SAFETY: `a` is readable for 3 bytes; the kernel copies them from the mapping.
    let w = unsafe { syscall::pwrite(fd, a + 2 * PAGE as u64, 3, 10) };
    check(w == Ok(3), "pwrite from the mapping itself")?;
    check(peek(a + 10) == b'x' && peek(a + 12) == b'z', "the mapping sees its own bytes moved")?;
    // SAFETY: `a + 20` is writable for 3 bytes.
    let r = unsafe { syscall::pread(fd, a + 20, 3, 2 * PAGE as i64) };
    check(r == Ok(3) && peek(a + 21) == b'y', "pread into the mapping itself")?;
    unmap(a, 3 * PAGE)?;
    let _ = close(fd);
    // The stores outlive the mapping and the descriptor.
    let fd = open_path(path, O_RDONLY, 0).map_err(|_| "reopen")?;
    let mut all = [0u8; 24];
    check(pread(fd, &mut all, 0) == Ok(24), "read back")?;
    check(all[3] == 0x33 && all[7] == b'W' && &all[10..13] == b"xyz" && &all[20..23] == b"xyz", "kept")?;
    let _ = close(fd);
    // SAFETY: `path` is NUL-terminated.
    let _ = unsafe { syscall::unlink(path.as_ptr() as u64) };
    Ok(())
}

fn private(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/mmap-private\0";
    let len = 3 * PAGE;
    let fd = pattern_file(path, len, O_RDWR)?;
    let rw = PROT_READ | PROT_WRITE;
    let a = map(len, rw, MAP_PRIVATE, fd, 0).map_err(|_| "mmap MAP_PRIVATE")?;
    check(peek(a + 5) == 5, "the private mapping shows the file")?;
    poke(a + 5, 0xEE);
    let mut b = [0u8; 1];
    check(pread(fd, &mut b, 5) == Ok(1) && b[0] == 5, "a private store stays out of the file")?;
    check(pwrite(fd, &[0x77], 6) == Ok(1), "pwrite the copied page")?;
    check(peek(a + 6) == 6, "the written page is the mapping's own copy")?;
    // A page it has not written still shows the file, as on XNU.
    check(pwrite(fd, &[0x44], PAGE as i64 * 2 + 9) == Ok(1), "pwrite an untouched page")?;
    check(peek(a + 2 * PAGE as u64 + 9) == 0x44, "an untouched private page shows the file")?;
    // A child gets its own copy.
    let status = in_child(|| {
        if peek(a + 5) != 0xEE {
            return 1;
        }
        poke(a + 5, 0x11);
        0
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "the child's copy")?;
    check(peek(a + 5) == 0xEE, "the child's store stays in the child")?;
    unmap(a, len)?;
    // An offset that is not page aligned: the address returned points at it.
    let off = PAGE + 3;
    let c = map(10, PROT_READ, MAP_PRIVATE, fd, off as i64).map_err(|_| "mmap at an unaligned offset")?;
    check(c % PAGE as u64 == 3, "the address keeps the offset within the page")?;
    check(peek(c) == (off % 251) as u8 && peek(c + 9) == ((off + 9) % 251) as u8, "the bytes at the offset")?;
    unmap(c - 3, 13)?;
    // MAP_FIXED with it: the address must share the offset within the page.
    let d = map(2 * PAGE, PROT_READ, MAP_ANON | MAP_PRIVATE, -1, 0).map_err(|_| "a spot")?;
    // SAFETY: `d` is ours; MAP_FIXED replaces it.
    let fixed = unsafe { mmap(d + 3, 10, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, off as i64) };
    check(fixed == Ok(d + 3) && peek(d + 3) == (off % 251) as u8, "MAP_FIXED at an unaligned offset")?;
    // SAFETY: as above.
    let bad = unsafe { mmap(d + 5, 10, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, off as i64) };
    check(bad == Err(Errno::EINVAL), "MAP_FIXED whose page offset differs from pos's")?;
    unmap(d, 2 * PAGE)?;
    let _ = close(fd);
    // SAFETY: `path` is NUL-terminated.
    let _ = unsafe { syscall::unlink(path.as_ptr() as u64) };
    Ok(())
}

fn past_the_end(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/mmap-end\0";
    let fd = pattern_file(path, PAGE + 10, O_RDWR)?;
    let rw = PROT_READ | PROT_WRITE;
    // Mapping more than the file holds is allowed.
    let a = map(4 * PAGE, rw, MAP_SHARED, fd, 0).map_err(|_| "mmap beyond the end")?;
    check(peek(a + PAGE as u64 + 9) == ((PAGE + 9) % 251) as u8, "the last byte")?;
    check(peek(a + PAGE as u64 + 10) == 0 && peek(a + 2 * PAGE as u64 - 1) == 0, "the last page's tail")?;
    let status = in_child(|| {
        peek(a + 2 * PAGE as u64);
        0
    })?;
    check(killed_by(status, SIGBUS), "a load past the last page is SIGBUS")?;
    let status = in_child(|| {
        poke(a + 3 * PAGE as u64 + 7, 1);
        0
    })?;
    check(killed_by(status, SIGBUS), "a store past the last page is SIGBUS")?;
    // The file grows: the pages are there, zero.
    check(ftruncate(fd, 3 * PAGE as i64) == Ok(0), "ftruncate longer")?;
    check(peek(a + 2 * PAGE as u64 + 100) == 0, "grown pages read zero")?;
    poke(a + 2 * PAGE as u64 + 100, 0x42);
    let mut b = [0u8; 1];
    check(pread(fd, &mut b, 2 * PAGE as i64 + 100) == Ok(1) && b[0] == 0x42, "a store into a grown page")?;
    // Cut while mapped: the old bytes are never seen again (XNU makes the cut pages SIGBUS;
    // here they may also stay mapped, reading zero).
    check(ftruncate(fd, 5) == Ok(0), "ftruncate shorter")?;
    let status = in_child(|| if peek(a + 2 * PAGE as u64 + 100) == 0 && peek(a + 5) == 0 { 0 } else { 1 })?;
    check(killed_by(status, SIGBUS) || (wifexited(status) && wexitstatus(status) == 0), "no stale bytes")?;
    check(peek(a + 4) == 4 && peek(a + 5) == 0, "the cut page keeps its head, loses its tail")?;
    // Bytes stored past the end never reach the file.
    poke(a + 50, 0x99);
    check(ftruncate(fd, 100) == Ok(0), "ftruncate over the store")?;
    check(pread(fd, &mut b, 50) == Ok(1) && b[0] == 0, "a store past the end is not file data")?;
    unmap(a, 4 * PAGE)?;
    let _ = close(fd);
    // An empty file maps too; its first page is already past the end.
    let fd = pattern_file(path, 0, O_RDWR)?;
    let e = map(PAGE, PROT_READ, MAP_SHARED, fd, 0).map_err(|_| "mmap an empty file")?;
    let status = in_child(|| {
        peek(e);
        0
    })?;
    check(killed_by(status, SIGBUS), "an empty file's page is SIGBUS")?;
    unmap(e, PAGE)?;
    let _ = close(fd);
    // SAFETY: `path` is NUL-terminated.
    let _ = unsafe { syscall::unlink(path.as_ptr() as u64) };
    Ok(())
}

fn errors(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/mmap-errors\0";
    let (r, rw) = (PROT_READ, PROT_READ | PROT_WRITE);
    let ro = pattern_file(path, PAGE, O_RDONLY)?;
    check(map(PAGE, rw, MAP_SHARED, ro, 0) == Err(Errno::EACCES), "MAP_SHARED|PROT_WRITE, read-only fd")?;
    // A read-only sharing can never become writable …
    let a = map(PAGE, r, MAP_SHARED, ro, 0).map_err(|_| "a read-only MAP_SHARED")?;
    // SAFETY: `a` is ours.
    check(unsafe { mprotect(a, PAGE, rw) } == Err(Errno::EACCES), "mprotect it writable")?;
    unmap(a, PAGE)?;
    // … but a private mapping of the same descriptor may be written (its own copy).
    let p = map(PAGE, rw, MAP_PRIVATE, ro, 0).map_err(|_| "MAP_PRIVATE|PROT_WRITE, read-only fd")?;
    poke(p, 1);
    unmap(p, PAGE)?;
    let _ = close(ro);
    let wo = open_path(path, O_WRONLY, 0).map_err(|_| "open write-only")?;
    check(map(PAGE, r, MAP_SHARED, wo, 0) == Err(Errno::EACCES), "a write-only fd")?;
    check(map(PAGE, rw, MAP_PRIVATE, wo, 0) == Err(Errno::EACCES), "a write-only fd, private")?;
    let _ = close(wo);
    let fd = open_path(path, O_RDWR, 0).map_err(|_| "open read-write")?;
    check(map(PAGE, r, 0, fd, 0) == Err(Errno::EINVAL), "neither MAP_SHARED nor MAP_PRIVATE")?;
    check(map(PAGE, r, MAP_SHARED | MAP_PRIVATE, fd, 0) == Err(Errno::EINVAL), "both")?;
    check(map(PAGE, r, MAP_SHARED, fd, -(PAGE as i64)) == Err(Errno::EINVAL), "a negative offset")?;
    check(map(0, r, MAP_SHARED, fd, 0) == Err(Errno::EINVAL), "zero length")?;
    check(map(PAGE, r, MAP_SHARED, fd, i64::MAX) == Err(Errno::EINVAL), "past the largest file")?;
    let _ = close(fd);
    check(map(PAGE, r, MAP_SHARED, fd, 0) == Err(Errno::EBADF), "a closed descriptor")?;
    for dev in [&b"/dev/zero\0"[..], b"/dev/null\0"] {
        let d = open_path(dev, O_RDWR, 0).map_err(|_| "open a device")?;
        check(map(PAGE, r, MAP_PRIVATE, d, 0) == Err(Errno::ENODEV), "a character device is ENODEV")?;
        let _ = close(d);
    }
    let dir = open_path(b"/tmp\0", O_RDONLY, 0).map_err(|_| "open a directory")?;
    check(map(PAGE, r, MAP_SHARED, dir, 0) == Err(Errno::EINVAL), "a directory is EINVAL")?;
    let _ = close(dir);
    let [pr, pw] = pipe().map_err(|_| "pipe")?;
    check(map(PAGE, r, MAP_SHARED, pr, 0) == Err(Errno::EINVAL), "a pipe is EINVAL")?;
    let _ = (close(pr), close(pw));
    // SAFETY: `path` is NUL-terminated.
    let _ = unsafe { syscall::unlink(path.as_ptr() as u64) };
    Ok(())
}

fn msync_calls(_: &Args) -> Result<(), &'static str> {
    let path = b"/tmp/mmap-msync\0";
    let fd = pattern_file(path, 2 * PAGE, O_RDWR)?;
    // Three pages, the last given back: a hole known to follow the mapping.
    let a = map(3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0).map_err(|_| "mmap")?;
    unmap(a + 2 * PAGE as u64, PAGE)?;
    poke(a + 1, 0xC3);
    let mut b = [0u8; 1];
    // SAFETY: every call names (part of) the mapping made above, or is refused.
    unsafe {
        for flags in [MS_SYNC, MS_ASYNC, MS_INVALIDATE, MS_SYNC | MS_INVALIDATE, 0] {
            check(msync(a, 2 * PAGE, flags) == Ok(0), "msync of a file mapping")?;
        }
        check(pread(fd, &mut b, 1) == Ok(1) && b[0] == 0xC3, "the store is the file's, msync or not")?;
        check(msync(a + PAGE as u64, PAGE, MS_SYNC) == Ok(0), "msync of part of it")?;
        check(msync(a, 2 * PAGE, MS_ASYNC | MS_SYNC) == Err(Errno::EINVAL), "MS_ASYNC with MS_SYNC")?;
        check(msync(a, PAGE, 0x100) == Err(Errno::EINVAL), "an unknown flag")?;
        check(msync(a + 1, PAGE, MS_SYNC) == Err(Errno::EINVAL), "an unaligned address")?;
        check(msync(a, usize::MAX, MS_SYNC) == Err(Errno::EINVAL), "a range that wraps")?;
        check(msync(a, 3 * PAGE, MS_SYNC) == Err(Errno::ENOMEM), "a range past the mapping")?;
        check(msync(0x7000_0000_0000, PAGE, MS_SYNC) == Err(Errno::ENOMEM), "nothing mapped")?;
    }
    unmap(a, 2 * PAGE)?;
    let _ = close(fd);
    // SAFETY: `path` is NUL-terminated.
    let _ = unsafe { syscall::unlink(path.as_ptr() as u64) };
    Ok(())
}
