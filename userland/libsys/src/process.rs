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
    /// The file fileport `port` stands for, as `newfd`.
    FileportDup2 {
        port: u32,
        newfd: i32,
    },
    /// Change the child's working directory to NUL-terminated `path`.
    Chdir {
        path: &'a [u8],
    },
    /// Change the child's working directory to the directory open on `fd`.
    Fchdir {
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
    use sys::param::PATH_MAX;
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
    // The kernel reads the header and the actions as one block.
    #[repr(C)]
    struct FileActions<const N: usize> {
        head: PosixSpawnFileActionsHead,
        actions: [PsfaAction; N],
    }
    let mut fa_block = FileActions::<N> {
        head: PosixSpawnFileActionsHead { psfa_act_alloc: N as i32, psfa_act_count: actions.len() as i32 },
        actions: [PsfaAction::default(); N],
    };
    for (a, action) in fa_block.actions.iter_mut().zip(actions) {
        let (kind, fd) = match action {
            SpawnAction::Open { fd, path, oflag, mode } => {
                let n = path.len().min(PATH_MAX);
                a.psfao_path[..n].copy_from_slice(&path[..n]);
                a.psfao_oflag = *oflag;
                a.psfao_mode = *mode;
                (PSFA_OPEN, *fd)
            }
            SpawnAction::Close { fd } => (PSFA_CLOSE, *fd),
            SpawnAction::Dup2 { fd, newfd } => {
                a.psfao_oflag = *newfd;
                (PSFA_DUP2, *fd)
            }
            SpawnAction::Inherit { fd } => (PSFA_INHERIT, *fd),
            SpawnAction::FileportDup2 { port, newfd } => {
                a.psfao_oflag = *newfd;
                (PSFA_FILEPORT_DUP2, *port as i32)
            }
            SpawnAction::Chdir { path } => {
                let n = path.len().min(PATH_MAX);
                zerocopy::IntoBytes::as_mut_bytes(a)[PSFA_CHDIR_PATH_OFFSET..][..n]
                    .copy_from_slice(&path[..n]);
                (PSFA_CHDIR, 0)
            }
            SpawnAction::Fchdir { fd } => (PSFA_FCHDIR, *fd),
        };
        a.psfaa_type = kind;
        a.psfaa_filedes = fd;
    }
    let mut desc = PosixSpawnArgsDesc::default();
    let attr_head = attr.map(|attr| PosixSpawnAttrHead {
        psa_flags: attr.flags,
        _reserved: 0,
        psa_sigdefault: attr.sigdefault,
        psa_sigmask: attr.sigmask,
        psa_pgroup: attr.pgroup,
    });
    if let Some(head) = &attr_head {
        desc.attr_size = ATTR_READ_SIZE as u64;
        desc.attrp = head as *const PosixSpawnAttrHead as u64;
    }
    if !actions.is_empty() {
        desc.file_actions_size = (FILE_ACTIONS_HEADER + actions.len() * PSFA_ACTION_SIZE) as u64;
        desc.file_actions = &fa_block as *const FileActions<N> as u64;
    }
    let envp = [0u64; 1];
    let mut pid = 0i32;
    // SAFETY: every pointer names a live buffer of the size the kernel reads.
    unsafe {
        crate::syscall::posix_spawn(
            &mut pid as *mut i32 as u64,
            path.as_ptr() as u64,
            &desc as *const PosixSpawnArgsDesc as u64,
            ptrs.as_ptr() as u64,
            envp.as_ptr() as u64,
        )?;
    }
    Ok(pid)
}

/// `pipe()`: `[read end, write end]` (Darwin returns them in x0 and x1).
pub fn pipe() -> Result<[i32; 2], Errno> {
    // SAFETY: pipe takes no arguments and no pointers.
    let (r, w) = unsafe { crate::syscall::syscall(sys::syscalls::SYS_pipe, [0; 8])? };
    Ok([r as i32, w as i32])
}
