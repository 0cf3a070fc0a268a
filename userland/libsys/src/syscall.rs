//! BSD system calls: `svc #0x80` with the number in x16; on failure the kernel sets the
//! carry flag and puts the errno in x0 (reference §1.2).

use sys::Errno;

/// The raw call: returns (x0, x1) or the errno.
///
/// # Safety
/// The call may write user memory named by its arguments; the caller vouches for them.
#[inline(always)]
pub unsafe fn syscall(nr: u32, a: [u64; 8]) -> Result<(u64, u64), Errno> {
    let (x0, x1, carry): (u64, u64, u64);
    // SAFETY: `svc #0x80` enters the kernel, which only changes x0, x1 and NZCV.
    unsafe {
        core::arch::asm!(
            "svc #0x80",
            "cset {carry}, cs",
            carry = out(reg) carry,
            in("x16") nr as u64,
            inlateout("x0") a[0] => x0,
            inlateout("x1") a[1] => x1,
            in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5], in("x6") a[6], in("x7") a[7],
            options(nostack),
        );
    }
    if carry != 0 { Err(Errno(x0 as i32)) } else { Ok((x0, x1)) }
}

/// An argument's value as the register the kernel reads it from. A 32-bit type is
/// sign- or zero-extended as its C type would be; the kernel looks at its low half only.
pub trait SysArgReg {
    /// The register value.
    fn to_reg(self) -> u64;
}

impl SysArgReg for i32 {
    fn to_reg(self) -> u64 {
        self as i64 as u64
    }
}

impl SysArgReg for u32 {
    fn to_reg(self) -> u64 {
        u64::from(self)
    }
}

impl SysArgReg for i64 {
    fn to_reg(self) -> u64 {
        self as u64
    }
}

impl SysArgReg for u64 {
    fn to_reg(self) -> u64 {
        self
    }
}

impl SysArgReg for usize {
    fn to_reg(self) -> u64 {
        self as u64
    }
}

/// One stub per STD call of `syscalls.master`, each argument with the table's C type
/// (`sys::types`: `int` is `i32`, `size_t` is `usize`, a pointer is a `user_addr_t` address),
/// so an argument in the wrong place does not compile. A call with a `user_addr_t` argument
/// (memory the kernel reads, writes, maps or unmaps) is an `unsafe fn`; any other is a safe
/// `fn`, as for the Mach trap stubs.
macro_rules! stubs {
    ($( ($nr:literal, $name:ident, $ret:ident, [$($arg:ident: $ty:ident),*]) ),* $(,)?) => {
        $( stub!(@scan [$($ty)*] $nr, $name, [$($arg: $ty),*]); )*
    };
}

macro_rules! stub {
    // Look for an argument naming memory.
    (@scan [] $($t:tt)*) => { stub!(@safe $($t)*); };
    (@scan [user_addr_t $($rest:ident)*] $($t:tt)*) => { stub!(@unsafe $($t)*); };
    (@scan [$other:ident $($rest:ident)*] $($t:tt)*) => { stub!(@scan [$($rest)*] $($t)*); };
    (@safe $nr:literal, $name:ident, [$($arg:ident: $ty:ident),*]) => {
        #[doc = concat!("BSD system call `", stringify!($name), "` (", stringify!($nr), ").")]
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: sys::types::$ty),*) -> Result<u64, Errno> {
            let a = crate::pad_args::<8>(&[$(SysArgReg::to_reg($arg)),*]);
            // SAFETY: no argument names memory, so the call touches none of ours.
            unsafe { syscall($nr, a) }.map(|(x0, _)| x0)
        }
    };
    (@unsafe $nr:literal, $name:ident, [$($arg:ident: $ty:ident),*]) => {
        #[doc = concat!("BSD system call `", stringify!($name), "` (", stringify!($nr), ").")]
        ///
        /// # Safety
        /// Pointer arguments must be valid for the call, or the call fails with EFAULT; a
        /// range the call maps, unmaps or reprotects must not be memory the program uses.
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn $name($($arg: sys::types::$ty),*) -> Result<u64, Errno> {
            let a = crate::pad_args::<8>(&[$(SysArgReg::to_reg($arg)),*]);
            // SAFETY: forwarded from this stub's contract.
            unsafe { syscall($nr, a) }.map(|(x0, _)| x0)
        }
    };
}
sys::for_each_std_syscall!(stubs);

/// `exit`: never returns.
pub fn exit_process(status: i32) -> ! {
    let _ = exit(status);
    loop {
        core::hint::spin_loop();
    }
}

/// `write` of a byte slice.
pub fn write_bytes(fd: i32, buf: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `buf` is a valid slice for its length.
    unsafe { write(fd, buf.as_ptr() as u64, buf.len()) }
}

/// `open` of a NUL-terminated path (EINVAL if `path` has no terminating NUL).
pub fn open_path(path: &[u8], oflag: u32, mode: u16) -> Result<i32, Errno> {
    if path.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    unsafe { open(path.as_ptr() as u64, oflag as i32, i32::from(mode)) }.map(|fd| fd as i32)
}

/// `read` into a byte slice.
pub fn read_bytes(fd: i32, buf: &mut [u8]) -> Result<u64, Errno> {
    // SAFETY: `buf` is a valid, writable slice for its length.
    unsafe { read(fd, buf.as_mut_ptr() as u64, buf.len()) }
}

/// `truncate` of a NUL-terminated path (EINVAL if `path` has no terminating NUL).
pub fn truncate_path(path: &[u8], length: i64) -> Result<(), Errno> {
    if path.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    unsafe { truncate(path.as_ptr() as u64, length) }.map(drop)
}

/// `statfs64` of a NUL-terminated path: its file system's `struct statfs` (EINVAL if `path`
/// has no terminating NUL).
pub fn statfs_path(path: &[u8]) -> Result<sys::mount::Statfs, Errno> {
    if path.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    let mut sfs = sys::mount::Statfs::zeroed();
    // SAFETY: `path` is NUL-terminated; `sfs` is a writable `struct statfs`.
    unsafe { statfs64(path.as_ptr() as u64, core::ptr::from_mut(&mut sfs) as u64) }?;
    Ok(sfs)
}

/// `fstatfs64`: the `struct statfs` of the file system of the file open on `fd`.
pub fn fstatfs(fd: i32) -> Result<sys::mount::Statfs, Errno> {
    let mut sfs = sys::mount::Statfs::zeroed();
    // SAFETY: `sfs` is a writable `struct statfs`.
    unsafe { fstatfs64(fd, core::ptr::from_mut(&mut sfs) as u64) }?;
    Ok(sfs)
}

/// `mount(fstype, dir, flags, NULL)` with NUL-terminated `fstype` and `dir` (neither kind
/// of file system this kernel has reads `data`). Not NUL-terminated: `EINVAL`.
pub fn mount_path(fstype: &[u8], dir: &[u8], flags: i32) -> Result<(), Errno> {
    if fstype.last() != Some(&0) || dir.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: both strings are NUL-terminated; `data` is NULL.
    unsafe { mount(fstype.as_ptr() as u64, dir.as_ptr() as u64, flags, 0) }.map(drop)
}

/// `unmount(dir, flags)` with NUL-terminated `dir`. Not NUL-terminated: `EINVAL`.
pub fn unmount_path(dir: &[u8], flags: i32) -> Result<(), Errno> {
    if dir.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `dir` is NUL-terminated.
    unsafe { unmount(dir.as_ptr() as u64, flags) }.map(drop)
}

/// `getfsstat64` into `buf`: a `struct statfs` per mount, as many as fit; returns how many
/// were written. With an empty `buf` (a NULL buffer), how many mounts there are.
pub fn getfsstat(buf: &mut [sys::mount::Statfs], flags: i32) -> Result<usize, Errno> {
    let bytes = core::mem::size_of_val(buf);
    let (addr, size) = if buf.is_empty() { (0, 0) } else { (buf.as_mut_ptr() as u64, bytes) };
    let size = i32::try_from(size).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `buf` is writable for `size` bytes (none for NULL).
    unsafe { getfsstat64(addr, size, flags) }.map(|n| n as usize)
}
