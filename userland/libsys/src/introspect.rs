//! Reading the kernel's introspection calls safely: `sysctl` by number or by name into a
//! caller's buffer, and Darwin libproc's `proc_listpids` / `proc_pidinfo` over `proc_info`.

use sys::Errno;
use sys::proc_info::{PROC_INFO_CALL_LISTPIDS, PROC_INFO_CALL_PIDINFO};

use crate::syscall;

/// Run a sysctl-style call with `buf` as the old buffer: `call(oldp, oldlenp)`; the bytes
/// it filled.
fn read_into(buf: &mut [u8], call: impl FnOnce(u64, u64) -> Result<u64, Errno>) -> Result<usize, Errno> {
    let mut len = buf.len() as u64;
    call(buf.as_mut_ptr() as u64, &mut len as *mut u64 as u64)?;
    Ok(len as usize)
}

/// Read the value named by `mib` into `buf`; the bytes it filled (ENOMEM if it did not fit).
pub fn sysctl_read(mib: &[i32], buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `mib` and the buffers `read_into` passes are live for the lengths given.
    read_into(buf, |old, oldlenp| unsafe {
        syscall::sysctl(mib.as_ptr() as u64, mib.len() as u32, old, oldlenp, 0, 0)
    })
}

/// Read the value called `name` (e.g. `b"hw.ncpu"`) into `buf`, as [`sysctl_read`] does.
pub fn sysctlbyname_read(name: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `name` and the buffers `read_into` passes are live for the lengths given.
    read_into(buf, |old, oldlenp| unsafe {
        syscall::sysctlbyname(name.as_ptr() as u64, name.len(), old, oldlenp, 0, 0)
    })
}

/// `proc_listpids(kind, value, buf)`: the pids `kind`/`value` select (`PROC_ALL_PIDS`, …),
/// as many as fit; how many were written.
pub fn proc_listpids(kind: u32, value: u32, buf: &mut [i32]) -> Result<usize, Errno> {
    // SAFETY: `buf` is writable for its whole length in bytes.
    let bytes = unsafe {
        syscall::proc_info(
            PROC_INFO_CALL_LISTPIDS,
            kind as i32,
            value,
            0,
            buf.as_mut_ptr() as u64,
            i32::try_from(4 * buf.len()).unwrap_or(i32::MAX),
        )
    }?;
    Ok(bytes as usize / 4)
}

/// `proc_pidinfo(pid, flavor, buf)`: one record about `pid` (`PROC_PIDTBSDINFO`, …); the
/// bytes written.
pub fn proc_pidinfo(pid: i32, flavor: u32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is writable for its whole length.
    unsafe {
        syscall::proc_info(
            PROC_INFO_CALL_PIDINFO,
            pid,
            flavor,
            0,
            buf.as_mut_ptr() as u64,
            i32::try_from(buf.len()).unwrap_or(i32::MAX),
        )
    }
    .map(|n| n as usize)
}
