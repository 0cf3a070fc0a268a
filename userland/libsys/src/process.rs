//! Processes: `fork` (Darwin's two-register return), `execve`, `wait4`.

use sys::Errno;

/// Who we are after `fork`.
pub enum Forked {
    /// In the parent: the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// `fork()`: the kernel answers x0 = pid and x1 = 1 in the child, x1 = 0 in the parent.
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: fork takes no pointers.
    let (x0, x1) = unsafe { crate::syscall::syscall(sys::syscalls::SYS_fork, [0; 8])? };
    Ok(if x1 != 0 { Forked::Child } else { Forked::Parent(x0 as i32) })
}

/// `wait4(pid, &status, options, NULL)`: (pid, status); pid 0 with WNOHANG and nothing ready.
pub fn waitpid(pid: i32, options: i32) -> Result<(i32, i32), Errno> {
    let mut status = 0i32;
    // SAFETY: `status` is a valid i32.
    let r = unsafe {
        crate::syscall::wait4(pid as i64 as u64, &mut status as *mut i32 as u64, options as u64, 0)?
    };
    Ok((r as i32, status))
}

/// `execve(path, argv, envp)` from NUL-terminated byte strings. Only returns on error.
pub fn execv(path: &[u8], argv: &[&[u8]]) -> Errno {
    const MAX: usize = 16;
    if argv.len() >= MAX || path.last() != Some(&0) || argv.iter().any(|a| a.last() != Some(&0)) {
        return Errno::EINVAL;
    }
    let mut ptrs = [0u64; MAX];
    for (slot, a) in ptrs.iter_mut().zip(argv) {
        *slot = a.as_ptr() as u64;
    }
    let envp = [0u64; 1];
    // SAFETY: every pointer names a NUL-terminated string; the arrays end with NULL.
    match unsafe { crate::syscall::execve(path.as_ptr() as u64, ptrs.as_ptr() as u64, envp.as_ptr() as u64) }
    {
        Ok(_) => Errno::EINVAL,
        Err(e) => e,
    }
}
