//! Set-id programs (issue 15, B4 item 6): exec and posix_spawn of a file with the set-user-id
//! or set-group-id bit run it with the file's owner or group as the effective id, the saved
//! ids following, and `issetugid` says so; an exec of an ordinary program decides the taint
//! afresh, a fork inherits it. The programs are the C `ids` reporter (`userland/c/tests/
//! ids.c`) installed by the root file system as /bin/setuid-ids (04755, root's) and
//! /bin/setgid-ids (02755, group wheel); its exit status packs what it saw:
//! 1 euid root, 2 real uid not root, 4 egid wheel, 8 real gid not wheel, 16 issetugid.

use libsys::Args;
use libsys::process::{Forked, execv, fork, spawn, waitpid};
use libsys::syscall::{exit_process, issetugid, setgid, setuid};
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("exec of set-user-id and set-group-id programs: effective ids and issetugid", setid_exec),
    ("posix_spawn honours the set-id bits; fork inherits the taint, exec clears it", setid_spawn_fork),
];

const EUID_ROOT: i32 = 1;
const RUID_USER: i32 = 2;
const EGID_WHEEL: i32 = 4;
const RGID_USER: i32 = 8;
const TAINTED: i32 = 16;

/// Runs `path` in a child that is user 501 in group 20 (staff) when `as_user`, root
/// otherwise, and returns the program's exit status.
pub(crate) fn run_as(path: &'static [u8], as_user: bool) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            if as_user && (setgid(20).is_err() || setuid(501).is_err()) {
                exit_process(100);
            }
            let _ = execv(path, &[path]);
            exit_process(101)
        }
        Forked::Parent(pid) => {
            let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
            check(wifexited(status), "the program did not exit")?;
            Ok(wexitstatus(status))
        }
    }
}

fn setid_exec(_: &Args) -> Result<(), &'static str> {
    check(
        run_as(b"/bin/setuid-ids\0", true)? == EUID_ROOT | RUID_USER | RGID_USER | TAINTED,
        "set-user-id root run by uid 501: euid 0, real 501, tainted",
    )?;
    check(
        run_as(b"/bin/setgid-ids\0", true)? == RUID_USER | EGID_WHEEL | RGID_USER | TAINTED,
        "set-group-id wheel run by gid 20: egid 0, real gid 20, tainted",
    )?;
    // The child changed its ids with setuid before the exec; the new program did not gain
    // any from its exec, so it is not tainted.
    check(
        run_as(b"/bin/c/ids-O2\0", true)? == RUID_USER | RGID_USER,
        "an ordinary program run by uid 501 keeps its ids and is not tainted",
    )?;
    // Root running a set-user-id root program gains nothing: not tainted.
    check(
        run_as(b"/bin/setuid-ids\0", false)? == EUID_ROOT | EGID_WHEEL,
        "set-user-id root run by root: nothing gained, not tainted",
    )
}

fn setid_spawn_fork(_: &Args) -> Result<(), &'static str> {
    // A child made user 501 spawns the set-user-id program: the spawned program is root.
    let status = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            if setgid(20).is_err() || setuid(501).is_err() {
                exit_process(100);
            }
            let Ok(pid) = spawn(b"/bin/setuid-ids\0", &[b"setuid-ids\0"], None, &[]) else {
                exit_process(101)
            };
            let Ok((_, status)) = waitpid(pid, 0) else { exit_process(102) };
            exit_process(if wifexited(status) { wexitstatus(status) } else { 103 })
        }
        Forked::Parent(pid) => waitpid(pid, 0).map_err(|_| "wait4")?.1,
    };
    check(
        wifexited(status) && wexitstatus(status) == EUID_ROOT | RUID_USER | RGID_USER | TAINTED,
        "posix_spawn of set-user-id root by uid 501",
    )?;
    // A process that changed its ids is tainted, and so is its fork.
    let status = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            if setuid(501).is_err() || issetugid() != Ok(1) {
                exit_process(1);
            }
            match fork() {
                Ok(Forked::Child) => exit_process(if issetugid() == Ok(1) { 0 } else { 2 }),
                Ok(Forked::Parent(pid)) => match waitpid(pid, 0) {
                    Ok((_, s)) if wifexited(s) => exit_process(wexitstatus(s)),
                    _ => exit_process(3),
                },
                Err(_) => exit_process(4),
            }
        }
        Forked::Parent(pid) => waitpid(pid, 0).map_err(|_| "wait4")?.1,
    };
    check(wifexited(status) && wexitstatus(status) == 0, "setuid taints; the fork inherits it")
}
