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
    let r = unsafe { crate::syscall::wait4(pid, &mut status as *mut i32 as u64, options, 0)? };
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

/// A `posix_spawn` file action.
#[derive(Clone, Copy)]
pub enum SpawnAction<'a> {
    /// Open NUL-terminated `path` with `oflag` as `fd`.
    Open {
        fd: i32,
        path: &'a [u8],
        oflag: i32,
        mode: u16,
    },
    Close {
        fd: i32,
    },
    Dup2 {
        fd: i32,
        newfd: i32,
    },
    Inherit {
        fd: i32,
    },
}

/// `posix_spawn` attributes (None: the defaults).
#[derive(Default, Clone, Copy)]
pub struct SpawnAttr {
    pub flags: u16,
    pub sigdefault: u32,
    pub sigmask: u32,
    pub pgroup: i32,
}

/// As many file actions as the kernel takes in one spawn.
const MAX_ACTIONS: usize = 64;
/// What most spawns need; the file-action block (1 KiB an action) is sized for this many
/// unless more are asked for, so a plain spawn does not clear 64 KiB of stack.
const FEW_ACTIONS: usize = 4;

/// `posix_spawn(&pid, path, file_actions, attr, argv, NULL env)`: the child's pid.
pub fn spawn(
    path: &[u8],
    argv: &[&[u8]],
    attr: Option<SpawnAttr>,
    actions: &[SpawnAction<'_>],
) -> Result<i32, Errno> {
    if actions.len() <= FEW_ACTIONS {
        spawn_with::<FEW_ACTIONS>(path, argv, attr, actions)
    } else {
        spawn_with::<MAX_ACTIONS>(path, argv, attr, actions)
    }
}

/// [`spawn`] with room for `N` file actions.
fn spawn_with<const N: usize>(
    path: &[u8],
    argv: &[&[u8]],
    attr: Option<SpawnAttr>,
    actions: &[SpawnAction<'_>],
) -> Result<i32, Errno> {
    use sys::spawn::*;
    const MAX: usize = 16;
    if argv.len() >= MAX || actions.len() > N || path.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    let mut ptrs = [0u64; MAX];
    for (slot, a) in ptrs.iter_mut().zip(argv) {
        if a.last() != Some(&0) {
            return Err(Errno::EINVAL);
        }
        *slot = a.as_ptr() as u64;
    }
    let mut attr_block = [0u8; ATTR_READ_SIZE];
    // The kernel reads the header and the actions as one block: byte arrays, so no padding.
    #[repr(C)]
    struct FileActions<const N: usize> {
        header: [u8; FILE_ACTIONS_HEADER],
        actions: [[u8; PSFA_ACTION_SIZE]; N],
    }
    let mut fa_block =
        FileActions::<N> { header: [0; FILE_ACTIONS_HEADER], actions: [[0; PSFA_ACTION_SIZE]; N] };
    fa_block.header[0..4].copy_from_slice(&(N as i32).to_le_bytes());
    fa_block.header[4..8].copy_from_slice(&(actions.len() as i32).to_le_bytes());
    for (a, action) in fa_block.actions.iter_mut().zip(actions) {
        let (kind, fd) = match action {
            SpawnAction::Open { fd, path, oflag, mode } => {
                let n = path.len().min(PATH_MAX);
                a[PSFA_OPEN_PATH..PSFA_OPEN_PATH + n].copy_from_slice(&path[..n]);
                a[PSFA_OPEN_OFLAG..PSFA_OPEN_OFLAG + 4].copy_from_slice(&oflag.to_le_bytes());
                a[PSFA_OPEN_MODE..PSFA_OPEN_MODE + 2].copy_from_slice(&mode.to_le_bytes());
                (PSFA_OPEN, *fd)
            }
            SpawnAction::Close { fd } => (PSFA_CLOSE, *fd),
            SpawnAction::Dup2 { fd, newfd } => {
                a[PSFA_DUP2_NEWFD..PSFA_DUP2_NEWFD + 4].copy_from_slice(&newfd.to_le_bytes());
                (PSFA_DUP2, *fd)
            }
            SpawnAction::Inherit { fd } => (PSFA_INHERIT, *fd),
        };
        a[PSFA_TYPE..PSFA_TYPE + 4].copy_from_slice(&kind.to_le_bytes());
        a[PSFA_FILEDES..PSFA_FILEDES + 4].copy_from_slice(&fd.to_le_bytes());
    }
    let mut desc = [0u64; SPAWN_ARGS_DESC_SIZE / 8];
    if let Some(attr) = attr {
        attr_block[ATTR_FLAGS..ATTR_FLAGS + 2].copy_from_slice(&attr.flags.to_le_bytes());
        attr_block[ATTR_SIGDEFAULT..ATTR_SIGDEFAULT + 4].copy_from_slice(&attr.sigdefault.to_le_bytes());
        attr_block[ATTR_SIGMASK..ATTR_SIGMASK + 4].copy_from_slice(&attr.sigmask.to_le_bytes());
        attr_block[ATTR_PGROUP..ATTR_PGROUP + 4].copy_from_slice(&attr.pgroup.to_le_bytes());
        desc[0] = ATTR_READ_SIZE as u64;
        desc[1] = attr_block.as_ptr() as u64;
    }
    if !actions.is_empty() {
        desc[2] = (FILE_ACTIONS_HEADER + actions.len() * PSFA_ACTION_SIZE) as u64;
        desc[3] = &fa_block as *const FileActions<N> as u64;
    }
    let envp = [0u64; 1];
    let mut pid = 0i32;
    // SAFETY: every pointer names a live buffer of the size the kernel reads.
    unsafe {
        crate::syscall::posix_spawn(
            &mut pid as *mut i32 as u64,
            path.as_ptr() as u64,
            desc.as_ptr() as u64,
            ptrs.as_ptr() as u64,
            envp.as_ptr() as u64,
        )?;
    }
    Ok(pid)
}
