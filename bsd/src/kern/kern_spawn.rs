//! `posix_spawn` (XNU's `posix_spawn` in `kern_exec.c`): a new process built directly —
//! the program's image loaded into a fresh task — without copying the parent's address
//! space. File actions (open, close, dup2, inherit, a fileport's file at a descriptor, chdir
//! and fchdir) shape the child's descriptors and working directory in order; a relative
//! program path is looked up from the directory they leave the child in, as in XNU;
//! attributes set its process group, signal mask, default signals and ids. The argument
//! layouts are Darwin's (`sys::spawn`).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use osfmk::kern::sched_prim::{current_thread, thread_setrun};
use osfmk::kern::task::Task;
use osfmk::kern::thread_act::thread_create_user;
use osfmk::vm::user_ptr::{UserAddr, UserPtr, UserSlice};
use sys::Errno;
use sys::signal::{NSIG, SigSet, sigmask};
use sys::spawn::*;

use crate::kern::exec_stack::ARG_MAX;
use crate::kern::kern_descrip::{FileDesc, FileProc};
use crate::kern::kern_exec::{copyin_string_array, load_image};
use crate::kern::kern_proc::{Membership, Pid, Proc, allproc_lock, pgrps, pid_alloc, uthread};
use crate::kern::spawn_file_actions::{FileAction, MAX_FILE_ACTIONS, parse_file_actions};
use crate::vfs::vfs_lookup::{VfsContext, namei};
use crate::vfs::vfs_syscalls::{copyin_path, searchable_dir};
use crate::vfs::vfs_vnops::vn_open;
use crate::vfs::vnode::VnodeRef;

/// The attributes this kernel honours.
#[derive(Default)]
struct SpawnAttr {
    flags: u16,
    sigdefault: SigSet,
    sigmask: SigSet,
    pgroup: Pid,
}

fn copyin_vec(addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = alloc::vec![0u8; len];
    UserSlice::new(addr, len)?.read_at(0, &mut buf)?;
    Ok(buf)
}

/// Where the file actions will leave the child's working directory, found without doing
/// anything: chdir paths are looked up, and an fchdir's descriptor is followed through the
/// earlier actions to the file it will name (an open's path looked up, a dup2's source, a
/// fileport's file) or else to the spawner's own table. The program is looked up from
/// there before any action runs, so a spawn whose program cannot load leaves no trace; the
/// actions' own errors (a missing directory, a descriptor that is not one) come out here too.
fn cwd_after_actions(p: &Proc, actions: &[FileAction], mut ctx: VfsContext) -> Result<VfsContext, Errno> {
    let mut named: BTreeMap<i32, Option<VnodeRef>> = BTreeMap::new();
    let vnode_of = |named: &BTreeMap<i32, Option<VnodeRef>>, fd: i32| -> Result<VnodeRef, Errno> {
        match named.get(&fd) {
            Some(Some(vp)) => Ok(vp.clone()),
            Some(None) => Err(Errno::EBADF),
            None => p.p_fd.lock().get(fd)?.fg_ops.vnode().ok_or(Errno::EINVAL),
        }
    };
    for action in actions {
        match action {
            FileAction::Open { fd, oflag, path, .. } => {
                let follow = oflag & sys::fcntl::O_NOFOLLOW == 0;
                named.insert(*fd, namei(&ctx, path, follow).ok());
            }
            FileAction::Close { fd } => {
                named.insert(*fd, None);
            }
            FileAction::Dup2 { fd, newfd } => {
                let vp = vnode_of(&named, *fd).ok();
                named.insert(*newfd, vp);
            }
            FileAction::FileportDup2 { port, newfd } => {
                let glob = crate::kern::sys_fileport::fileport_fileglob(p, *port)?;
                named.insert(*newfd, glob.fg_ops.vnode());
            }
            FileAction::Inherit { .. } => {}
            FileAction::Chdir { path } => {
                let vp = namei(&ctx, path, true)?;
                ctx.cdir = searchable_dir(&ctx, vp)?;
            }
            FileAction::Fchdir { fd } => {
                let vp = vnode_of(&named, *fd)?;
                ctx.cdir = searchable_dir(&ctx, vp)?;
            }
        }
    }
    Ok(ctx)
}

/// Apply the file actions to the child's table, in order, in the context `ctx`: the spawning
/// caller's credential, and a working directory that starts as the caller's and moves with
/// each chdir or fchdir action (relative open paths, and then the program's, start there).
/// Fileport names are looked up in the spawner `p`'s space. With CLOEXEC_DEFAULT every
/// descriptor not named by an action is closed at the end. Returns whether the working
/// directory moved.
fn apply_file_actions(
    p: &Proc,
    fds: &mut FileDesc,
    actions: &[FileAction],
    cloexec_default: bool,
    ctx: &mut VfsContext,
) -> Result<bool, Errno> {
    let mut moved_cwd = false;
    let mut keep: Vec<i32> = Vec::new();
    for action in actions {
        match action {
            FileAction::Open { fd, oflag, mode, path } => {
                let glob = vn_open(ctx, path, *oflag, *mode)?;
                let flags = if *oflag & sys::fcntl::O_CLOEXEC != 0 {
                    crate::kern::kern_descrip::FP_CLOEXEC
                } else {
                    0
                };
                fds.install(*fd, FileProc { fp_flags: flags, fp_glob: glob })?;
                keep.push(*fd);
            }
            FileAction::Close { fd } => fds.close(*fd)?,
            FileAction::Dup2 { fd, newfd } => {
                fds.dup2(*fd, *newfd)?;
                keep.push(*newfd);
            }
            FileAction::Inherit { fd } => {
                fds.set_cloexec(*fd, false)?;
                keep.push(*fd);
            }
            FileAction::FileportDup2 { port, newfd } => {
                let glob = crate::kern::sys_fileport::fileport_fileglob(p, *port)?;
                fds.install(*newfd, FileProc { fp_flags: 0, fp_glob: glob })?;
                keep.push(*newfd);
            }
            FileAction::Chdir { path } => {
                let vp = namei(ctx, path, true)?;
                ctx.cdir = searchable_dir(ctx, vp)?;
                moved_cwd = true;
            }
            FileAction::Fchdir { fd } => {
                let vp = fds.get(*fd)?.fg_ops.vnode().ok_or(Errno::EINVAL)?;
                ctx.cdir = searchable_dir(ctx, vp)?;
                moved_cwd = true;
            }
        }
    }
    if cloexec_default {
        let open: Vec<i32> = fds.open_fds().collect();
        for fd in open.into_iter().filter(|fd| !keep.contains(fd)) {
            fds.close(fd)?;
        }
    }
    Ok(moved_cwd)
}

/// `posix_spawn(&pid, path, adesc, argv, envp)`.
pub fn posix_spawn(
    p: &Arc<Proc>,
    pid_ptr: UserAddr,
    path: UserAddr,
    adesc: UserAddr,
    argv: UserAddr,
    envp: UserAddr,
) -> Result<(), Errno> {
    // The pid is written last, after the child is running; a bad pointer for it is refused
    // before anything is done.
    let pid_ptr = UserPtr::<Pid>::new_opt(pid_ptr.0)?;
    let mut attr = SpawnAttr::default();
    let mut actions = Vec::new();
    if let Some(adesc) = UserPtr::<PosixSpawnArgsDesc>::new_opt(adesc.0)? {
        let desc = adesc.read()?;
        // Port actions, MAC extensions, coalitions, personas, credentials, subsystem roots
        // and conclaves are not supported yet: refuse rather than ignore them.
        if desc.unsupported.iter().any(|&[_, ptr]| ptr != 0) {
            return Err(Errno::ENOTSUP);
        }
        if desc.attrp != 0 {
            if (desc.attr_size as usize) < ATTR_READ_SIZE {
                return Err(Errno::EINVAL);
            }
            let a = UserPtr::<PosixSpawnAttrHead>::new(desc.attrp)?.read()?;
            attr = SpawnAttr {
                flags: a.psa_flags,
                sigdefault: a.psa_sigdefault,
                sigmask: a.psa_sigmask,
                pgroup: a.psa_pgroup,
            };
        }
        let fa_size = desc.file_actions_size as usize;
        if desc.file_actions != 0 {
            if !(FILE_ACTIONS_HEADER..=FILE_ACTIONS_HEADER + MAX_FILE_ACTIONS * PSFA_ACTION_SIZE)
                .contains(&fa_size)
            {
                return Err(Errno::EINVAL);
            }
            actions = parse_file_actions(&copyin_vec(desc.file_actions, fa_size)?)?;
        }
    }
    if attr.flags & POSIX_SPAWN_SETEXEC != 0 {
        // Exec in place arrives with the shell work; a new process is what every caller here wants.
        return Err(Errno::ENOTSUP);
    }
    if attr.flags & POSIX_SPAWN_SETPGROUP != 0 && attr.pgroup < 0 {
        return Err(Errno::EINVAL);
    }

    let path_bytes = copyin_path(p, path)?;
    let mut budget = ARG_MAX;
    let argv = copyin_string_array(p, argv, &mut budget)?;
    let envp = copyin_string_array(p, envp, &mut budget)?;

    // The child's signal state is settled before anything is created.
    let mut sigacts = p.p_sigacts.lock().fork_copy();
    sigacts.exec_reset();
    if attr.flags & POSIX_SPAWN_SETSIGDEF != 0 {
        for sig in 1..NSIG {
            if attr.sigdefault & sigmask(sig) != 0 {
                sigacts.force_default(sig);
            }
        }
    }
    let mut sigstate = uthread(&current_thread()).sig.lock().inherit();
    sigstate.exec_reset();
    if attr.flags & POSIX_SPAWN_SETSIGMASK != 0 {
        sigstate.sigprocmask(sys::signal::SIG_SETMASK, Some(attr.sigmask))?;
    }
    let mut cred = *p.p_ucred.lock();
    if attr.flags & POSIX_SPAWN_RESETIDS != 0 {
        cred.uid = cred.ruid;
        cred.gid = cred.rgid;
    }

    crate::kern::kern_rlimit::check_nproc(p)?;
    let limits = *p.p_rlimit.lock();
    // The lookups (the program's, the actions') are made with the spawning thread's
    // credential, relative paths from its working directory as the chdir actions move it.
    let ctx = p.vfs_context()?;
    let image =
        load_image(&cwd_after_actions(p, &actions, ctx.clone())?, &path_bytes, &argv, &envp, &limits)?;
    // The program's set-id bits, as at exec; the child is tainted only if they granted it
    // ids (set in the child below).
    let tainted = image.setid.apply(&mut cred);
    let pid = pid_alloc()?;
    let task = Task::create().map_err(|_| Errno::ENOMEM)?;
    task.inherit_special_ports(&p.task);
    task.replace_map(image.map).map_err(|_| Errno::ENOMEM)?;
    let thread = thread_create_user(task.clone(), image.entry, image.sp, &[]).ok_or(Errno::ENOMEM)?;
    *uthread(&thread).sig.lock() = sigstate;
    // The child gets its descriptors last (see below); until it runs, it has none.
    let child = Proc::create_from(
        pid,
        p.p_pid,
        &image.comm,
        task.clone(),
        cred,
        FileDesc::new(),
        sigacts,
        Membership::ChildOf(p.p_pid),
    );
    // As if the child had called setsid() or setpgid(0, pgroup) before exec. File actions
    // act on the file system (an open may create a file), so they run last, once nothing
    // else can fail: a spawn that fails — for want of a program, memory, a pid or a group —
    // leaves no trace (XNU applies them in the child, before image activation; the program
    // was looked up from where they leave the child, above). Permissions are the spawning
    // user's.
    let moved = if attr.flags & POSIX_SPAWN_SETSID != 0 {
        pgrps().setsid(pid).map(|_| ())
    } else if attr.flags & POSIX_SPAWN_SETPGROUP != 0 {
        pgrps().setpgid(pid, pid, attr.pgroup).map(|_| ())
    } else {
        Ok(())
    };
    pgrps().mark_exec(pid);
    let mut ctx = ctx;
    let fds = moved.and_then(|()| {
        let mut fds = p.p_fd.lock().fork_copy();
        let cloexec_default = attr.flags & POSIX_SPAWN_CLOEXEC_DEFAULT != 0;
        let moved_cwd = apply_file_actions(p, &mut fds, &actions, cloexec_default, &mut ctx)?;
        fds.exec_close();
        Ok((fds, moved_cwd))
    });
    let (fds, moved_cwd) = match fds {
        Ok(done) => done,
        Err(e) => {
            // The child never ran: take it back out.
            child.task.terminate();
            allproc_lock().remove(&pid);
            pgrps().exit(pid, p.p_pid);
            pgrps().reap(pid);
            return Err(e);
        }
    };
    *child.p_fd.lock() = fds;
    // The child starts where the spawning thread is, as a forked child would, unless a
    // chdir action moved it.
    let mut dirs = p.dirs_for_child();
    if moved_cwd {
        dirs.cdir = Some(crate::vfs::vnode::VnodeUse::new(ctx.cdir.clone()));
    }
    *child.p_fd_dirs.write() = dirs;
    *child.p_rlimit.lock() = limits;
    child.p_sugid.store(tainted, core::sync::atomic::Ordering::Relaxed);
    if attr.flags & POSIX_SPAWN_START_SUSPENDED != 0 {
        task.suspend();
    }
    child.set_running();
    thread_setrun(thread);
    if let Some(pid_ptr) = pid_ptr {
        pid_ptr.write(&pid)?;
    }
    Ok(())
}
