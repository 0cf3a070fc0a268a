//! Supplementary groups (issue 15, B4 item 6): `getgroups` and `setgroups` with XNU's rules
//! (the effective group first in the list, at most NGROUPS_MAX = 16, root only to set), and
//! the group permission bits granted through a supplementary group.

use libsys::syscall::{self, close, getegid, open_path, setuid};
use libsys::{Args, Errno};
use sys::fcntl::{O_CREAT, O_RDONLY, O_WRONLY};

use crate::cwd::in_child;
use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("getgroups / setgroups: the list, its limits and errors", groups_calls),
    ("a supplementary group grants a file's group bits", group_bits_through_supplementary),
];

fn getgroups(buf: &mut [u32]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid and writable for its length.
    unsafe { syscall::getgroups(buf.len() as u32, buf.as_mut_ptr() as u64).map(|n| n as usize) }
}

fn setgroups(list: &[u32]) -> Result<(), Errno> {
    // SAFETY: `list` is valid for its length; the kernel only reads it.
    unsafe { syscall::setgroups(list.len() as u32, list.as_ptr() as u64).map(drop) }
}

fn groups_calls(_: &Args) -> Result<(), &'static str> {
    // All in a child: the list is the process's, and the test changes it.
    let status = in_child(|| {
        let mut buf = [0u32; 16];
        // SAFETY: a size of 0 asks for the count only; nothing is written.
        if unsafe { syscall::getgroups(0, 0) } != Ok(1) {
            return 1;
        }
        if getgroups(&mut buf) != Ok(1) || buf[0] != 0 {
            return 2; // root starts in wheel alone
        }
        if setgroups(&[20, 12, 61]) != Ok(()) {
            return 3;
        }
        if getgroups(&mut buf) != Ok(3) || buf[..3] != [20, 12, 61] || getegid() != Ok(20) {
            return 4; // the first entry is the effective group
        }
        if getgroups(&mut buf[..2]) != Err(Errno::EINVAL) {
            return 5; // too small a buffer
        }
        if setgroups(&[1; 17]) != Err(Errno::EINVAL) {
            return 6; // more than NGROUPS_MAX
        }
        if setgroups(&[5; 16]).is_err() || getgroups(&mut buf) != Ok(16) {
            return 7; // exactly NGROUPS_MAX
        }
        for bad in [UNMAPPED_ADDRESS, KERNEL_ADDRESS] {
            // SAFETY: the kernel must refuse this address; nothing of ours is written.
            let got = unsafe { syscall::getgroups(16, bad) };
            // SAFETY: as above; setgroups only reads.
            let set = unsafe { syscall::setgroups(2, bad) };
            if got != Err(Errno::EFAULT) || set != Err(Errno::EFAULT) {
                return 8;
            }
        }
        if setgroups(&[]).is_err() || getgroups(&mut buf) != Ok(1) || buf[0] != 5 {
            return 9; // an empty list keeps the effective group, drops the rest
        }
        if setuid(501).is_err() || setgroups(&[0]) != Err(Errno::EPERM) {
            return 10; // only root
        }
        0
    })?;
    check(status == 0, "getgroups/setgroups: see the child's exit status for the step")
}

fn group_bits_through_supplementary(_: &Args) -> Result<(), &'static str> {
    // A file of root's, group wheel (0), readable by its group only.
    let path = b"/tmp/groups-wheel-only\0";
    let fd = open_path(path, O_WRONLY | O_CREAT, 0o040).map_err(|_| "create")?;
    let _ = close(fd);
    let status = in_child(|| {
        let path = b"/tmp/groups-wheel-only\0";
        // Effective group staff (20), wheel as a supplementary group, then uid 501.
        if setgroups(&[20, 0]).is_err() || setuid(501).is_err() {
            return 1;
        }
        match open_path(path, O_RDONLY, 0) {
            Ok(fd) => {
                let _ = close(fd);
            }
            Err(_) => return 2,
        }
        0
    })?;
    check(status == 0, "a supplementary wheel member may read a group-readable file")?;
    let status = in_child(|| {
        let path = b"/tmp/groups-wheel-only\0";
        if setgroups(&[20]).is_err() || setuid(501).is_err() {
            return 1;
        }
        if open_path(path, O_RDONLY, 0) == Err(Errno::EACCES) { 0 } else { 2 }
    })?;
    check(status == 0, "without wheel the group bits do not apply: EACCES")
}
