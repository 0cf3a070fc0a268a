//! Exec of what other toolchains build (issue B0): the C programs that Debian's GNU cross
//! compiler builds in `userland/c` run through posix_spawn and execve with the output and
//! exit status they must have; damaged copies of one are refused with ENOEXEC or end
//! harmlessly; and `open`, which these tests read the programs' output back with.

use libsys::process::{Forked, SpawnAction, SpawnAttr, execv, fork, spawn, waitpid};
use libsys::signal::kill;
use libsys::syscall::{close, open_path, read_bytes, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::{O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY};
use sys::signal::SIGKILL;
use sys::wait::{WNOHANG, wexitstatus, wifexited, wifsignaled};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("open: create, write, read back, and its errors", open_files),
    ("C programs from the GNU toolchain run through posix_spawn", c_programs_spawned),
    ("execve of GNU-built programs (.bss-only, .data, TLS)", c_programs_execed),
    ("damaged executables: ENOEXEC or a harmless end", exec_mutants),
    ("exec needs search permission on the way to the program", exec_search_permission),
    ("a posix_spawn that fails late (its process group) leaves no file behind", spawn_fails_late),
];

/// A C program, the exit status it must end with, and what it must print: the whole text, or
/// (for hello, whose line holds its pid) a prefix and a suffix.
struct CProgram {
    path: &'static [u8],
    status: i32,
    starts: &'static [u8],
    ends: &'static [u8],
}

const fn prog(path: &'static [u8], status: i32, starts: &'static [u8], ends: &'static [u8]) -> CProgram {
    CProgram { path, status, starts, ends }
}

const HELLO_O0: &[u8] = b"c-hello: hello, world from /bin/c/hello-O0 (pid ";
const HELLO_O2: &[u8] = b"c-hello: hello, world from /bin/c/hello-O2 (pid ";
const HELLO_GOLD: &[u8] = b"c-hello: hello, world from /bin/c/hello-gold-O2 (pid ";
const HELLO_LLD: &[u8] = b"c-hello: hello, world from /bin/c/hello-lld-O2 (pid ";
const BSS: &[u8] = b"c-bss: 1541 words zeroed, sum after writing 3561251\n";
const DATA: &[u8] = b"c-data: constants, data and bss agree\nc-data: sum of primes 77, last counter 407\n";
const TLS: &[u8] = b"c-tls: counter 1235, words sum 37, buffer end 7\n";

const C_PROGRAMS: &[CProgram] = &[
    prog(b"/bin/c/hello-O0\0", 0, HELLO_O0, b", argc 1)\n"),
    prog(b"/bin/c/hello-O2\0", 0, HELLO_O2, b", argc 1)\n"),
    prog(b"/bin/c/bss-O0\0", 0, BSS, b""),
    prog(b"/bin/c/bss-O2\0", 0, BSS, b""),
    prog(b"/bin/c/data-O0\0", 42, DATA, b""),
    prog(b"/bin/c/data-O2\0", 42, DATA, b""),
    prog(b"/bin/c/tls-O0\0", 0, TLS, b""),
    prog(b"/bin/c/tls-O2\0", 0, TLS, b""),
    prog(b"/bin/c/true-O0\0", 0, b"", b""),
    prog(b"/bin/c/true-O2\0", 0, b"", b""),
    // The same sources linked by gold and by LLD.
    prog(b"/bin/c/hello-gold-O2\0", 0, HELLO_GOLD, b", argc 1)\n"),
    prog(b"/bin/c/hello-lld-O2\0", 0, HELLO_LLD, b", argc 1)\n"),
    prog(b"/bin/c/data-gold-O2\0", 42, DATA, b""),
    prog(b"/bin/c/data-lld-O2\0", 42, DATA, b""),
    prog(b"/bin/c/tls-gold-O2\0", 0, TLS, b""),
    prog(b"/bin/c/tls-lld-O2\0", 0, TLS, b""),
];

/// Reads a whole (small) file.
fn read_file(path: &[u8], buf: &mut [u8]) -> Result<usize, &'static str> {
    let fd = open_path(path, O_RDONLY, 0).map_err(|_| "open for reading failed")?;
    let mut len = 0;
    while len < buf.len() {
        match read_bytes(fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n as usize,
            Err(_) => return Err("read failed"),
        }
    }
    let _ = close(fd);
    Ok(len)
}

/// `/tmp/<prefix><name>\0` for the program at `path` ("/bin/c/hello-O0\0").
fn tmp_path<'a>(buf: &'a mut [u8; 64], prefix: &[u8], path: &[u8]) -> &'a [u8] {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let mut len = 0;
    for &b in b"/tmp/".iter().chain(prefix).chain(name) {
        if len < buf.len() - 1 {
            buf[len] = b;
            len += 1;
        }
    }
    if buf[len - 1] != 0 {
        buf[len] = 0;
        len += 1;
    }
    &buf[..len]
}

/// Ends `pid` if it has not ended on its own within about two seconds; its wait status.
fn reap_within_2s(pid: i32) -> Result<i32, &'static str> {
    for _ in 0..200 {
        match waitpid(pid, WNOHANG).map_err(|_| "wait4")? {
            (0, _) => crate::sched::sleep_ms(10),
            (_, status) => return Ok(status),
        }
    }
    let _ = kill(pid, SIGKILL);
    waitpid(pid, 0).map(|(_, status)| status).map_err(|_| "wait4 after SIGKILL")
}

fn open_files(_: &Args) -> Result<(), &'static str> {
    check(open_path(b"/tmp/no-such-file\0", O_RDONLY, 0) == Err(Errno::ENOENT), "missing file: ENOENT")?;
    check(open_path(b"\0", O_RDONLY, 0) == Err(Errno::ENOENT), "empty path: ENOENT")?;
    check(open_path(b"/bin\0", O_WRONLY, 0) == Err(Errno::EISDIR), "directory for writing: EISDIR")?;
    check(
        open_path(b"/bin/c\0", O_RDONLY | O_WRONLY | O_RDWR, 0) == Err(Errno::EINVAL),
        "O_ACCMODE: EINVAL",
    )?;
    check(open_path(b"/bin/not-elf/x\0", O_RDONLY, 0) == Err(Errno::ENOTDIR), "through a file: ENOTDIR")?;
    // SAFETY: the kernel must reject these pointers without touching memory.
    unsafe {
        check(libsys::syscall::open(0, 0, 0) == Err(Errno::EFAULT), "NULL path: EFAULT")?;
        check(libsys::syscall::open(KERNEL_ADDRESS, 0, 0) == Err(Errno::EFAULT), "kernel path: EFAULT")?;
    }
    let mut long = [b'a'; 1100];
    long[0] = b'/';
    long[1099] = 0;
    check(open_path(&long, O_RDONLY, 0) == Err(Errno::ENAMETOOLONG), "1099-byte path: ENAMETOOLONG")?;

    let path = b"/tmp/open-test\0";
    let fd = open_path(path, O_WRONLY | O_CREAT | O_EXCL, 0o644).map_err(|_| "O_CREAT in /tmp failed")?;
    check(fd >= 3, "the new descriptor is not the lowest free one")?;
    check(write_bytes(fd, b"written through open\n") == Ok(21), "write to the new file")?;
    let mut b = [0u8; 4];
    check(read_bytes(fd, &mut b) == Err(Errno::EBADF), "read from a write-only descriptor: EBADF")?;
    check(close(fd) == Ok(0), "close")?;
    check(open_path(path, O_WRONLY | O_CREAT | O_EXCL, 0o644) == Err(Errno::EEXIST), "O_EXCL: EEXIST")?;
    let mut buf = [0u8; 64];
    let n = read_file(path, &mut buf)?;
    check(&buf[..n] == b"written through open\n", "the file does not read back what was written")
}

fn c_programs_spawned(_: &Args) -> Result<(), &'static str> {
    for p in C_PROGRAMS {
        let mut name = [0u8; 64];
        let out = tmp_path(&mut name, b"spawn-", p.path);
        let stdout =
            SpawnAction::Open { fd: 1, path: out, oflag: (O_WRONLY | O_CREAT | O_EXCL) as i32, mode: 0o644 };
        let pid = spawn(p.path, &[p.path], None, &[stdout]).map_err(|e| {
            libsys::println!("utest:   posix_spawn {:?}: {}", core::str::from_utf8(p.path), e.name());
            "posix_spawn of a C program failed"
        })?;
        let status = reap_within_2s(pid)?;
        check(wifexited(status), "a C program did not exit normally")?;
        if wexitstatus(status) != p.status {
            libsys::println!(
                "utest:   {:?} exited with {}",
                core::str::from_utf8(p.path),
                wexitstatus(status)
            );
            return Err("a C program exited with the wrong status");
        }
        let mut text = [0u8; 256];
        let n = read_file(out, &mut text)?;
        let text = &text[..n];
        let exact = p.ends.is_empty();
        let ok = if exact { text == p.starts } else { text.starts_with(p.starts) && text.ends_with(p.ends) };
        if !ok {
            libsys::println!(
                "utest:   {:?} printed {:?}",
                core::str::from_utf8(p.path),
                core::str::from_utf8(text)
            );
            return Err("a C program printed the wrong thing");
        }
    }
    Ok(())
}

/// fork, execve `path`, and the child's exit status (-1 if it did not exit normally).
fn fork_exec_status(path: &'static [u8]) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let e = execv(path, &[path]);
            libsys::syscall::exit_process(100 + e.0.clamp(0, 100))
        }
        Forked::Parent(pid) => {
            let status = reap_within_2s(pid)?;
            Ok(if wifexited(status) { wexitstatus(status) } else { -1 })
        }
    }
}

fn c_programs_execed(_: &Args) -> Result<(), &'static str> {
    check(fork_exec_status(b"/bin/c/bss-O2\0")? == 0, "execve of the .bss-only program")?;
    check(fork_exec_status(b"/bin/c/data-O0\0")? == 42, "execve of the .data program")?;
    check(fork_exec_status(b"/bin/c/tls-O2\0")? == 0, "execve of the TLS program")?;
    // A zero-fill segment whose p_offset is far past the end of the file is valid ELF.
    check(fork_exec_status(b"/bin/mutants/bss-offset-far\0")? == 0, "execve with a far .bss p_offset")?;
    check(
        fork_exec_status(b"/bin/mutants/truncated\0")? == 100 + Errno::ENOEXEC.0,
        "execve of a truncated program must fail with ENOEXEC",
    )
}

fn exec_mutants(_: &Args) -> Result<(), &'static str> {
    let mut index = [0u8; 2048];
    let n = read_file(b"/bin/mutants/index\0", &mut index)?;
    let mut count = 0;
    for line in index[..n].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let mut words = line.split(|&b| b == b' ');
        let (Some(name), Some(expect)) = (words.next(), words.next()) else {
            return Err("a malformed line in /bin/mutants/index");
        };
        let mut path = [0u8; 64];
        let mut len = 0;
        for &b in b"/bin/mutants/".iter().chain(name).chain(b"\0") {
            if len == path.len() {
                return Err("a mutant's name is too long");
            }
            path[len] = b;
            len += 1;
        }
        let path = &path[..len];
        let spawned = spawn(path, &[path], None, &[]);
        let outcome_ok = match (expect, spawned) {
            (b"ENOEXEC", Err(e)) => e == Errno::ENOEXEC,
            (b"ENOEXEC", Ok(pid)) => {
                let _ = reap_within_2s(pid);
                false
            }
            (b"exit0", Ok(pid)) => {
                let status = reap_within_2s(pid)?;
                wifexited(status) && wexitstatus(status) == 0
            }
            (b"any", Err(e)) => e == Errno::ENOEXEC,
            (b"any", Ok(pid)) => {
                let status = reap_within_2s(pid)?;
                wifexited(status) || wifsignaled(status)
            }
            _ => false,
        };
        if !outcome_ok {
            libsys::println!(
                "utest:   mutant {:?} (expected {:?})",
                core::str::from_utf8(name),
                core::str::from_utf8(expect)
            );
            return Err("a damaged executable had the wrong outcome");
        }
        count += 1;
    }
    check(count >= 20, "fewer mutants than mkmutants.py writes")?;
    // The kernel is still itself: a good program still runs.
    check(fork_exec_status(b"/bin/c/true-O2\0")? == 0, "a good program no longer runs")
}

fn exec_search_permission(_: &Args) -> Result<(), &'static str> {
    // /private is rwx------ (root's) and holds the data program, which exits with 42: root
    // runs it; for anyone else execve, posix_spawn and open alike fail with EACCES (a
    // successful exec would show as the child's status 42).
    check(fork_exec_status(b"/private/data\0")? == 42, "root could not run /private/data")?;
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            if libsys::syscall::setuid(501).is_err() {
                libsys::syscall::exit_process(1);
            }
            let spawned = spawn(b"/private/data\0", &[b"/private/data\0"], None, &[]);
            let opened = open_path(b"/private/data\0", O_RDONLY, 0);
            if spawned != Err(Errno::EACCES) || opened != Err(Errno::EACCES) {
                libsys::syscall::exit_process(2);
            }
            let exec = execv(b"/private/data\0", &[b"/private/data\0"]);
            libsys::syscall::exit_process(if exec == Errno::EACCES { 0 } else { 3 })
        }
        Forked::Parent(pid) => {
            let status = reap_within_2s(pid)?;
            check(wifexited(status) && wexitstatus(status) == 0, "uid 501 reached into /private")
        }
    }
}

fn spawn_fails_late(_: &Args) -> Result<(), &'static str> {
    // POSIX_SPAWN_SETPGROUP into a group that does not exist is EPERM — found only after the
    // program is loaded. The open action must not have run by then.
    let path = b"/tmp/spawn-late-failure\0";
    let create = SpawnAction::Open { fd: 1, path, oflag: (O_WRONLY | O_CREAT) as i32, mode: 0o644 };
    let attr = SpawnAttr { flags: sys::spawn::POSIX_SPAWN_SETPGROUP, pgroup: 99_999, ..Default::default() };
    let r = spawn(b"/bin/c/true-O2\0", &[b"true\0"], Some(attr), &[create]);
    check(r == Err(Errno::EPERM), "spawn into a missing process group: EPERM")?;
    check(open_path(path, O_RDONLY, 0) == Err(Errno::ENOENT), "the failed spawn's open action ran")
}
