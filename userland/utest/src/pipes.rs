//! Pipes (issue 15, B4 item 5): Darwin's two-register `pipe`, data between processes, end of
//! file when the writers are gone, EPIPE and SIGPIPE when the readers are, O_NONBLOCK's
//! EAGAIN, writes of PIPE_BUF (512) bytes or fewer landing whole, a buffer that grows past
//! its first 16 KiB, and a blocked reader woken by its writer's exit.

use libsys::process::{Forked, fork, pipe, waitpid};
use libsys::signal::install;
use libsys::syscall::{close, exit_process, fcntl, read_bytes, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::{F_GETFL, F_SETFL, O_NONBLOCK};
use sys::signal::{SIG_DFL, SIG_IGN, SIGPIPE};
use sys::wait::{wexitstatus, wifexited};

use crate::robust::killed_by;
use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("pipe: a child's bytes reach the parent, then end of file", parent_child),
    ("pipe: no reader left is EPIPE, with SIGPIPE unless ignored", broken_pipe),
    ("pipe: O_NONBLOCK reads and writes get EAGAIN; small writes land whole", nonblocking_and_atomic),
    ("pipe: 1 MiB through a pipe, in order, past the first 16 KiB buffer", big_transfer),
];

fn status_of(pid: i32) -> Result<i32, &'static str> {
    waitpid(pid, 0).map(|(_, s)| s).map_err(|_| "wait4")
}

fn parent_child(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(r >= 0 && w >= 0 && r != w, "two descriptors")?;
    check(
        fcntl(r, F_GETFL, 0) == Ok(0) && fcntl(w, F_GETFL, 0) == Ok(1),
        "read end O_RDONLY, write end O_WRONLY",
    )?;
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let _ = close(r);
            // Sleep first, so the parent's read waits for the data.
            crate::sched::sleep_ms(50);
            let ok = write_bytes(w, b"hello through a pipe") == Ok(20);
            exit_process(if ok { 0 } else { 1 })
        }
        Forked::Parent(pid) => pid,
    };
    let _ = close(w);
    let mut buf = [0u8; 64];
    let mut got = 0;
    loop {
        match read_bytes(r, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n as usize,
            Err(_) => return Err("read"),
        }
    }
    check(&buf[..got] == b"hello through a pipe", "the child's bytes, whole and in order")?;
    check(read_bytes(r, &mut buf) == Ok(0), "end of file stays")?;
    check(write_bytes(r, b"x") == Err(Errno::EBADF), "the read end does not write")?;
    let _ = close(r);
    let s = status_of(pid)?;
    check(wifexited(s) && wexitstatus(s) == 0, "the child wrote")
}

fn broken_pipe(_: &Args) -> Result<(), &'static str> {
    // Default SIGPIPE: the writer dies of it.
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let _ = close(r);
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let _ = install(SIGPIPE, SIG_DFL, 0, 0);
            let _ = write_bytes(w, b"nobody reads this");
            exit_process(7)
        }
        Forked::Parent(pid) => pid,
    };
    check(killed_by(status_of(pid)?, SIGPIPE), "a write with no reader: killed by SIGPIPE")?;
    // Ignored: EPIPE only.
    let old = install(SIGPIPE, SIG_IGN, 0, 0).map_err(|_| "ignore SIGPIPE")?;
    let r = write_bytes(w, b"x");
    let _ = install(SIGPIPE, old, 0, 0);
    check(r == Err(Errno::EPIPE), "EPIPE with SIGPIPE ignored")?;
    let _ = close(w);
    Ok(())
}

fn nonblocking_and_atomic(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(fcntl(r, F_SETFL, i64::from(O_NONBLOCK)).is_ok(), "O_NONBLOCK on the read end")?;
    check(fcntl(w, F_SETFL, i64::from(O_NONBLOCK)).is_ok(), "O_NONBLOCK on the write end")?;
    let mut buf = [0u8; 4096];
    check(read_bytes(r, &mut buf) == Err(Errno::EAGAIN), "nothing to read: EAGAIN")?;
    // Fill it: non-blocking writes take what fits, then EAGAIN.
    let chunk = [0x5au8; 4096];
    let mut filled = 0u64;
    loop {
        match write_bytes(w, &chunk) {
            Ok(n) => filled += n,
            Err(Errno::EAGAIN) => break,
            Err(_) => return Err("a write failed"),
        }
        if filled > 1 << 20 {
            return Err("the pipe never filled");
        }
    }
    check(filled >= 16 * 1024, "at least 16 KiB fit")?;
    // Make room for less than PIPE_BUF: a 512-byte write must not be split.
    check(read_bytes(r, &mut buf[..100]) == Ok(100), "read 100")?;
    check(
        write_bytes(w, &[1u8; 512]) == Err(Errno::EAGAIN),
        "512 bytes do not fit in 100: EAGAIN, nothing written",
    )?;
    check(write_bytes(w, &[2u8; 100]) == Ok(100), "100 bytes fit")?;
    let mut total = 0u64;
    loop {
        match read_bytes(r, &mut buf) {
            Ok(n) => total += n,
            Err(Errno::EAGAIN) => break,
            Err(_) => return Err("drain"),
        }
    }
    check(total == filled, "every byte written came out once")?;
    let _ = close(w);
    check(read_bytes(r, &mut buf) == Ok(0), "then end of file, not EAGAIN")?;
    let _ = close(r);
    Ok(())
}

fn big_transfer(_: &Args) -> Result<(), &'static str> {
    const TOTAL: usize = 1 << 20;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let _ = close(r);
            let mut block = [0u8; 8192];
            let mut sent = 0usize;
            while sent < TOTAL {
                for (i, b) in block.iter_mut().enumerate() {
                    *b = ((sent + i) % 251) as u8;
                }
                match write_bytes(w, &block) {
                    Ok(n) => sent += n as usize,
                    Err(_) => exit_process(1),
                }
            }
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    let _ = close(w);
    let mut buf = [0u8; 3000];
    let mut at = 0usize;
    loop {
        match read_bytes(r, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for &b in &buf[..n as usize] {
                    if b != (at % 251) as u8 {
                        return Err("a byte out of order");
                    }
                    at += 1;
                }
            }
            Err(_) => return Err("read"),
        }
    }
    let _ = close(r);
    check(at == TOTAL, "1 MiB arrived")?;
    let s = status_of(pid)?;
    check(wifexited(s) && wexitstatus(s) == 0, "the writer finished")
}
