//! The file benchmarks of issue 15 (B4 item 10): a 1-byte write to `/dev/null`, `open` +
//! `close`, a pipe ping-pong between two processes, a 4 KiB read from a file already in
//! memory, `stat64` of a path three directories deep, and 1 MiB through a pipe. Linux 6.1
//! on the same QEMU, in guest instructions, for the first three: 636, 7,064 and 14,289.

use libsys::process::{Forked, fork, pipe, waitpid};
use libsys::syscall::{self, close, exit_process, open_path, read_bytes, write_bytes};
use sys::fcntl::{O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
use sys::stat::Stat64;

/// One measurement: how many guest instructions an operation costs (see `main::measure`).
type Measure<'a> = &'a mut dyn FnMut(u64, &mut dyn FnMut()) -> u64;

/// The deep path `stat64` looks up, and the file the 4 KiB reads come from.
const DEEP: &[u8] = b"/tmp/bench-a/b/c/file\0";
const DIRS: [&[u8]; 3] = [b"/tmp/bench-a\0", b"/tmp/bench-a/b\0", b"/tmp/bench-a/b/c\0"];

/// Makes the directories and the 4 KiB file the benchmarks use.
fn set_up() -> Result<(), &'static str> {
    for d in DIRS {
        // SAFETY: `d` is NUL-terminated. An existing directory is fine.
        let _ = unsafe { syscall::mkdir(d.as_ptr() as u64, 0o755) };
    }
    let fd = open_path(DEEP, O_WRONLY | O_CREAT | O_TRUNC, 0o644).map_err(|_| "create the file")?;
    let page = [0x5au8; 4096];
    let ok = write_bytes(fd, &page) == Ok(4096);
    let _ = close(fd);
    if ok { Ok(()) } else { Err("write the file") }
}

fn tear_down() {
    // SAFETY: NUL-terminated paths.
    let _ = unsafe { syscall::unlink(DEEP.as_ptr() as u64) };
    for d in DIRS.iter().rev() {
        // SAFETY: as above.
        let _ = unsafe { syscall::rmdir(d.as_ptr() as u64) };
    }
}

/// A child that answers every byte on `to_child` with one on `to_parent` until end of
/// file; returns its pid.
fn echo_child(to_child: [i32; 2], to_parent: [i32; 2]) -> Option<i32> {
    match fork().ok()? {
        Forked::Child => {
            let _ = (close(to_child[1]), close(to_parent[0]));
            let mut b = [0u8; 1];
            while read_bytes(to_child[0], &mut b) == Ok(1) {
                if write_bytes(to_parent[1], &b) != Ok(1) {
                    break;
                }
            }
            exit_process(0)
        }
        Forked::Parent(pid) => {
            let _ = (close(to_child[0]), close(to_parent[1]));
            Some(pid)
        }
    }
}

/// A child that reads `total` bytes from `p[0]` in big reads and then writes one byte
/// back on `ack[1]`, for as long as the parent keeps sending; returns its pid.
fn sink_child(p: [i32; 2], ack: [i32; 2], total: usize) -> Option<i32> {
    match fork().ok()? {
        Forked::Child => {
            let _ = (close(p[1]), close(ack[0]));
            let mut buf = [0u8; 16 * 1024];
            'rounds: loop {
                let mut got = 0;
                while got < total {
                    match read_bytes(p[0], &mut buf) {
                        Ok(0) | Err(_) => break 'rounds,
                        Ok(n) => got += n as usize,
                    }
                }
                if write_bytes(ack[1], b"k") != Ok(1) {
                    break;
                }
            }
            exit_process(0)
        }
        Forked::Parent(pid) => {
            let _ = (close(p[0]), close(ack[1]));
            Some(pid)
        }
    }
}

/// The six rows, in the order `main` prints them; a row that could not be set up is 0.
pub fn rows(measure: Measure) -> [(&'static str, u64); 6] {
    let null = open_path(b"/dev/null\0", O_RDWR, 0).unwrap_or(-1);
    let write_null = measure(20_000, &mut || {
        let _ = write_bytes(null, b"x");
    });
    let _ = close(null);
    let ready = set_up().is_ok();
    let open_close = measure(2_000, &mut || {
        if let Ok(fd) = open_path(DEEP, O_RDONLY, 0) {
            let _ = close(fd);
        }
    });
    let fd = open_path(DEEP, O_RDONLY, 0).unwrap_or(-1);
    let mut page = [0u8; 4096];
    let read_4k = measure(5_000, &mut || {
        // SAFETY: `page` is a writable 4 KiB buffer.
        let _ = unsafe { syscall::pread(fd, page.as_mut_ptr() as u64, 4096, 0) };
    });
    let _ = close(fd);
    let mut st = Stat64::default();
    let stat_deep = measure(5_000, &mut || {
        // SAFETY: a NUL-terminated path and a writable Stat64.
        let _ = unsafe { syscall::stat64(DEEP.as_ptr() as u64, core::ptr::from_mut(&mut st) as u64) };
    });
    if ready {
        tear_down();
    }
    let ping_pong = match (pipe(), pipe()) {
        (Ok(down), Ok(up)) => match echo_child(down, up) {
            Some(pid) => {
                let mut b = [0u8; 1];
                let cost = measure(500, &mut || {
                    let _ = write_bytes(down[1], b"p");
                    let _ = read_bytes(up[0], &mut b);
                });
                let _ = (close(down[1]), close(up[0]));
                let _ = waitpid(pid, 0);
                cost
            }
            None => 0,
        },
        _ => 0,
    };
    const MIB: usize = 1 << 20;
    let transfer = match (pipe(), pipe()) {
        (Ok(p), Ok(ack)) => match sink_child(p, ack, MIB) {
            Some(pid) => {
                let chunk = [0xa5u8; 16 * 1024];
                let mut b = [0u8; 1];
                let cost = measure(10, &mut || {
                    for _ in 0..MIB / chunk.len() {
                        let _ = write_bytes(p[1], &chunk);
                    }
                    let _ = read_bytes(ack[0], &mut b);
                });
                let _ = (close(p[1]), close(ack[0]));
                let _ = waitpid(pid, 0);
                cost
            }
            None => 0,
        },
        _ => 0,
    };
    [
        ("write 1 byte to /dev/null", write_null),
        ("open + close of a file three directories deep", open_close),
        ("pipe ping-pong round trip, two processes", ping_pong),
        ("read 4 KiB from a cached file (pread)", read_4k),
        ("stat64 of a path three directories deep", stat_deep),
        ("1 MiB through a pipe to another process", transfer),
    ]
}
