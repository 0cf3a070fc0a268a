//! Loading programs (XNU's `kern_exec.c`): `execve`, and the first process. The image is
//! looked up by path, checked (a static ELF64 for aarch64, or a `#!` script run by its
//! interpreter), and a complete new address space is built — segments, lazily filled stack
//! with a guard, argc/argv/envp/apple strings — before anything of the caller is touched,
//! so a failed exec returns an error to an intact caller.
//!
//! Exec reads only what it needs from the file: the first bytes (to tell a script from an
//! ELF image), the ELF and program headers, and each segment's file bytes, read once
//! straight into the new pages. What else the file holds — symbols, debug info — costs
//! nothing.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use mach::KernReturn;
use mach::vm::{VmInherit, VmProt};
use osfmk::arm64::copyio::{FillError, FreshMap, copyinstr};
use osfmk::arm64::cswitch::{UserFpState, reset_user_thread_pointers, write_user_fp};
use osfmk::arm64::trapframe::TrapFrame;
use osfmk::kern::sched_prim::{current_thread, thread_setrun};
use osfmk::kern::task::Task;
use osfmk::kern::thread_act::thread_create_user;
use osfmk::vm::user_ptr::{UserAddr, UserPtr};
use osfmk::vm::vm_map::{VmMap, VmPlacement};
use osfmk::vm::vm_page::{round_page, trunc_page};
use sys::Errno;
use sys::stat::{S_ISGID, S_ISUID};

use crate::kern::bsd_init::rootvnode;
use crate::kern::exec_elf::{ExecSource, ImagePlan, parse_elf_image};
use crate::kern::exec_stack::{ARG_MAX, build_exec_stack};
use crate::kern::kern_descrip::FileDesc;
use crate::kern::kern_proc::{Pid, Proc, Ucred, uthread};
use crate::kern::kern_rlimit::{Rlimits, stack_size};
use crate::vfs::vfs_lookup::{VfsContext, namei};
use crate::vfs::vfs_syscalls::copyin_path;
use crate::vfs::vnode::{VEXEC, VType, VnodeRef};

/// Top of the user stack (well above the image area, far below the end of the user range).
pub const USRSTACK64: u64 = 0x0000_0001_7000_0000;
/// Never-accessible gap below the stack.
pub const USER_STACK_GUARD: u64 = 64 * 1024;
/// Longest `#!` line read (XNU reads one page; the interpreter path must fit in it).
const SHEBANG_MAX: usize = 512;
/// How much of a file exec reads to tell a script from a binary: `#!` and the bytes in
/// which the line must end.
const SHEBANG_HEAD: usize = 2 + SHEBANG_MAX;
/// Most argv + envp entries (each costs at least a pointer and a NUL of ARG_MAX).
const MAX_ARGS: usize = ARG_MAX / 9;

fn vm_prot(p: &crate::kern::exec_elf::Prot) -> VmProt {
    let mut v = VmProt::NONE;
    if p.read {
        v = v.union(VmProt::READ);
    }
    if p.write {
        v = v.union(VmProt::WRITE);
    }
    if p.execute {
        v = v.union(VmProt::EXECUTE);
    }
    v
}

/// Map each segment (zero-fill, filled lazily past the file bytes) read/write, read the file
/// bytes into it, then lower each segment to its own protection. A page a segment shares with
/// the one before (same protection, checked by the plan) is already mapped.
fn load_segments(map: &mut FreshMap, plan: &ImagePlan, file: &Executable) -> Result<(), Errno> {
    let mut mapped_to = 0;
    for seg in &plan.segments {
        let end = seg.vaddr.checked_add(seg.memsz).ok_or(Errno::ENOEXEC)?;
        let (start, end) = (trunc_page(seg.vaddr).max(mapped_to), round_page(end));
        if start < end {
            let at = VmPlacement::Fixed { addr: start, overwrite: false };
            map.enter(at, end - start, VmProt::DEFAULT, VmProt::ALL, VmInherit::DEFAULT)
                .map_err(Errno::from)?;
            mapped_to = end;
        }
        let len = usize::try_from(seg.filesz).map_err(|_| Errno::ENOEXEC)?;
        map.copyout_with(UserAddr(seg.vaddr), len, |done, piece| {
            file.read_exact_at(seg.file_offset + done, piece)
        })
        .map_err(|e| match e {
            FillError::Fault(_) => Errno::ENOMEM,
            FillError::Fill(errno) => errno,
        })?;
    }
    for seg in &plan.segments {
        let (start, end) = (trunc_page(seg.vaddr), round_page(seg.vaddr + seg.memsz));
        map.protect(start, end, vm_prot(&seg.prot)).map_err(Errno::from)?;
    }
    Ok(())
}

/// The last path component, for `p_comm`.
fn basename(path: &[u8]) -> &str {
    let name = path.rsplit(|&b| b == b'/').find(|c| !c.is_empty()).unwrap_or(path);
    core::str::from_utf8(name).unwrap_or("?")
}

/// A program ready to run: its address space, entry point and initial stack pointer.
pub struct Image {
    pub map: VmMap,
    pub entry: u64,
    pub sp: u64,
    /// The path of the program actually loaded (the interpreter, for a script).
    pub comm: alloc::string::String,
    /// The ids the program runs with, from its set-user-id and set-group-id bits.
    pub setid: SetIds,
}

/// What a program's set-id bits (`S_ISUID`, `S_ISGID`) make of the caller's effective ids:
/// the file's owner and group, for the bits that are set. A script's bits count for nothing
/// — only a binary's — as the interpreter, not the script, is what runs (and a set-id
/// script is a race between the check and the interpreter's open).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetIds {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl SetIds {
    /// The set-id bits of the binary `vp`: none on a file system mounted `MNT_NOSUID`.
    fn of(vp: &VnodeRef) -> SetIds {
        if crate::vfs::vfs_mount::vfs_flags(vp) & sys::mount::MNT_NOSUID != 0 {
            return SetIds::default();
        }
        let mode = vp.mode();
        SetIds { uid: (mode & S_ISUID != 0).then(|| vp.uid()), gid: (mode & S_ISGID != 0).then(|| vp.gid()) }
    }

    /// Apply them to `cred` at exec, as BSD does: the effective ids change for the bits that
    /// are set, and the saved ids become the effective ones whatever the bits (so a set-id
    /// program can drop its privilege and take it back). Returns whether the program gained
    /// ids the caller did not have (its effective ids now differ from its real ones), which
    /// taints it for `issetugid` until its next exec.
    pub fn apply(self, cred: &mut Ucred) -> bool {
        if let Some(uid) = self.uid {
            cred.uid = uid;
        }
        if let Some(gid) = self.gid {
            cred.gid = gid;
        }
        cred.svuid = cred.uid;
        cred.svgid = cred.gid;
        (self.uid.is_some() && cred.uid != cred.ruid) || (self.gid.is_some() && cred.gid != cred.rgid)
    }
}

/// An executable file as exec reads it: a regular file with an execute bit, read in place.
struct Executable {
    vp: VnodeRef,
}

impl Executable {
    /// Look `path` up in the caller's context `ctx` — a relative path from its working
    /// directory, with search permission needed on the way — and check it may run it: a
    /// regular file the caller may execute (root: one with any execute bit), on a file system
    /// not mounted `MNT_NOEXEC`, else `EACCES` (XNU's `exec_check_permissions`).
    fn open(ctx: &VfsContext, path: &[u8]) -> Result<Executable, Errno> {
        let vp = namei(ctx, path, true)?;
        if vp.vtype() != VType::VREG || crate::vfs::vfs_mount::vfs_flags(&vp) & sys::mount::MNT_NOEXEC != 0 {
            return Err(Errno::EACCES);
        }
        vp.authorize(&ctx.cred, VEXEC)?;
        Ok(Executable { vp })
    }

    /// The first bytes of the file, up to `buf.len()`; returns how many there were.
    fn read_head(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            let n = self.vp.read_at(done as u64, rest)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }
}

impl ExecSource for Executable {
    fn file_len(&self) -> u64 {
        self.vp.size()
    }

    fn read_exact_at(&self, off: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            let at = off.checked_add(done as u64).ok_or(Errno::ENOEXEC)?;
            match self.vp.read_at(at, rest)? {
                0 => return Err(Errno::ENOEXEC),
                n => done += n,
            }
        }
        Ok(())
    }
}

/// A `#!` line: the interpreter and its optional single argument.
struct Shebang {
    interp: Vec<u8>,
    arg: Option<Vec<u8>>,
}

/// Split a `#!` line into the interpreter and its optional single argument; None if the
/// file is not a script.
fn parse_shebang(head: &[u8]) -> Option<Result<Shebang, Errno>> {
    let rest = head.strip_prefix(b"#!")?;
    let line_end = rest.iter().take(SHEBANG_MAX).position(|&b| b == b'\n');
    let Some(line_end) = line_end else { return Some(Err(Errno::ENOEXEC)) };
    let line = &rest[..line_end];
    let mut words = line.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty());
    let Some(interp) = words.next() else { return Some(Err(Errno::ENOEXEC)) };
    let arg_start = interp.as_ptr() as usize - line.as_ptr() as usize + interp.len();
    let arg = line.get(arg_start..).map(|a| a.trim_ascii()).filter(|a| !a.is_empty()).map(<[u8]>::to_vec);
    Some(Ok(Shebang { interp: interp.to_vec(), arg }))
}

/// Build the image for `path` with `argv`/`envp` (`#!` scripts run their interpreter),
/// both looked up in the caller's context `ctx`. The stack is RLIMIT_STACK long (pages
/// appear as touched), and the address space is capped at RLIMIT_AS.
pub fn load_image(
    ctx: &VfsContext,
    path: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    limits: &Rlimits,
) -> Result<Image, Errno> {
    let stack_size = stack_size(limits);
    let mut file = Executable::open(ctx, path)?;
    let mut head = [0u8; SHEBANG_HEAD];
    let head_len = file.read_head(&mut head)?;
    let mut exec_path = path.to_vec();
    let mut setid = SetIds::of(&file.vp);
    let mut argv: Vec<Vec<u8>> = argv.to_vec();
    if let Some(shebang) = parse_shebang(&head[..head_len]) {
        let Shebang { interp, arg } = shebang?;
        // New argv: interpreter, its argument, the script, then the script's own arguments.
        let mut new_argv = alloc::vec![interp.clone()];
        new_argv.extend(arg);
        new_argv.push(path.to_vec());
        new_argv.extend(argv.iter().skip(1).cloned());
        argv = new_argv;
        file = Executable::open(ctx, &interp)?;
        let mut magic = [0u8; 2];
        if file.read_head(&mut magic)? == 2 && &magic == b"#!" {
            // An interpreter must itself be a binary.
            return Err(Errno::ENOEXEC);
        }
        exec_path = interp;
        setid = SetIds::default();
    }
    let plan = parse_elf_image(&file)?;
    // The stack grows down from USRSTACK64 and is filled on demand; below it, a guard
    // entry that can never be made accessible turns a runaway stack into a fault. An image
    // that reaches into either cannot be loaded.
    let stack_base = USRSTACK64 - stack_size;
    let guard_base = stack_base - USER_STACK_GUARD;
    if plan.segments.iter().any(|s| s.vaddr < USRSTACK64 && s.vaddr + s.memsz > guard_base) {
        return Err(Errno::ENOEXEC);
    }
    let mut map = FreshMap::new(limits[sys::resource::RLIMIT_AS as usize].rlim_cur).map_err(Errno::from)?;
    load_segments(&mut map, &plan, &file)?;
    let at = VmPlacement::Fixed { addr: guard_base, overwrite: false };
    map.enter(at, USER_STACK_GUARD, VmProt::NONE, VmProt::NONE, VmInherit::DEFAULT).map_err(Errno::from)?;
    let at = VmPlacement::Fixed { addr: stack_base, overwrite: false };
    map.enter(at, stack_size, VmProt::DEFAULT, VmProt::DEFAULT, VmInherit::DEFAULT).map_err(Errno::from)?;
    let mut apple_path: Vec<u8> = b"executable_path=".to_vec();
    apple_path.extend_from_slice(&exec_path);
    let argv_refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp_refs: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    let stack = build_exec_stack(USRSTACK64, &argv_refs, &envp_refs, &[&apple_path])?;
    map.copyout(&stack.image, UserAddr(stack.sp)).map_err(|_| Errno::E2BIG)?;
    let comm = alloc::string::String::from(basename(path));
    Ok(Image { map: map.into_map(), entry: plan.entry, sp: stack.sp, comm, setid })
}

/// Create process `pid` running the program at `path` (the first process), looked up from
/// the system root, where the process's working and root directories start too.
pub fn exec_new_process(
    pid: Pid,
    ppid: Pid,
    path: &[u8],
    argv: &[Vec<u8>],
    cred: Ucred,
    fds: FileDesc,
) -> Result<(), Errno> {
    let root = rootvnode().ok_or(Errno::ENOENT)?;
    let ctx = VfsContext::new(cred.kauth(), root.clone(), root);
    let image = load_image(&ctx, path, argv, &[], &crate::kern::kern_rlimit::default_rlimits())?;
    let task = Task::create().map_err(Errno::from)?;
    task.replace_map(image.map).map_err(Errno::from)?;
    let thread = thread_create_user(task.clone(), image.entry, image.sp, &[]).ok_or(Errno::ENOMEM)?;
    Proc::create(pid, ppid, &image.comm, task, cred, fds);
    thread_setrun(thread);
    Ok(())
}

/// Copy in a NULL-terminated array of string pointers (argv or envp) from the memory of
/// `p`, the calling process.
pub(crate) fn copyin_string_array(
    p: &Proc,
    addr: UserAddr,
    budget: &mut usize,
) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    let Some(array) = UserPtr::<u64>::new_opt(addr.0)? else {
        return Ok(out);
    };
    if p.task.map.is_none() {
        return Err(Errno::EFAULT);
    }
    loop {
        if out.len() >= MAX_ARGS {
            return Err(Errno::E2BIG);
        }
        let ptr = array.element(out.len())?.read()?;
        if ptr == 0 {
            return Ok(out);
        }
        let mut s = Vec::new();
        copyinstr(UserAddr(ptr), *budget, &mut s)
            .map_err(|kr| if kr == KernReturn::KERN_NO_SPACE { Errno::E2BIG } else { Errno::EFAULT })?;
        *budget = budget.saturating_sub(s.len() + 1 + 8);
        out.push(s);
    }
}

/// `execve(path, argv, envp)`: replace the calling process's program. On success every
/// register is set here (EJUSTRETURN); on failure the caller is untouched.
pub fn execve(
    p: &Arc<Proc>,
    path: UserAddr,
    argv: UserAddr,
    envp: UserAddr,
    frame: &mut TrapFrame,
) -> Result<(), Errno> {
    let path_bytes = copyin_path(p, path)?;
    let mut budget = ARG_MAX;
    let argv = copyin_string_array(p, argv, &mut budget)?;
    let envp = copyin_string_array(p, envp, &mut budget)?;
    let limits = *p.p_rlimit.lock();
    // A relative path is the calling thread's working directory's; the process keeps its
    // working and root directories across the exec.
    let image = load_image(&p.vfs_context()?, &path_bytes, &argv, &envp, &limits)?;

    // The old program goes: its other threads first, all the way (none may still be in a
    // call that uses the old map, or running on it). Only a kill, or another thread's exec
    // winning the race, stops this here; past it there is no return.
    osfmk::kern::thread_act::thread_terminate_others().map_err(|_| Errno::EINTR)?;
    let me = current_thread();
    p.task.replace_map(image.map).map_err(Errno::from)?;
    *frame = TrapFrame::new_user(image.entry, image.sp);
    write_user_fp(&UserFpState { q: [0; 32], fpsr: 0, fpcr: 0 });
    reset_user_thread_pointers();
    p.p_fd.lock().exec_close();
    let discard = p.p_sigacts.lock().exec_reset();
    p.p_signals.lock().discard(discard);
    {
        let mut st = uthread(&me).sig.lock();
        st.discard(discard);
        st.exec_reset();
    }
    crate::kern::kern_proc::pgrps().mark_exec(p.p_pid);
    p.p_threadstart.store(0, Ordering::Relaxed);
    p.p_pth_tsd_offset.store(0, Ordering::Relaxed);
    *p.p_comm.lock() = image.comm;
    // The new program's identity. issetugid(2): a process is tainted when the exec that
    // started it granted set-id privileges, or when it changed its ids since; so an exec
    // decides afresh.
    let tainted = image.setid.apply(&mut p.p_ucred.lock());
    p.p_sugid.store(tainted, Ordering::Relaxed);
    Err(Errno::EJUSTRETURN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert!(parse_shebang(b"\x7fELF").is_none());
        let s = parse_shebang(b"#!/bin/sh\necho").unwrap().unwrap();
        assert_eq!((s.interp.as_slice(), s.arg), (&b"/bin/sh"[..], None));
        let s = parse_shebang(b"#! /bin/tool  -x -y \nrest").unwrap().unwrap();
        assert_eq!(s.interp, b"/bin/tool");
        assert_eq!(s.arg.unwrap(), b"-x -y");
        assert_eq!(parse_shebang(b"#!/bin/sh").unwrap().err(), Some(Errno::ENOEXEC));
        assert_eq!(parse_shebang(b"#!   \n").unwrap().err(), Some(Errno::ENOEXEC));
    }
}
