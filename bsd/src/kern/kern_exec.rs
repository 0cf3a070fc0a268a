//! Loading a program into a fresh task (XNU's `exec_mach_imgact` path). This milestone has
//! no `execve` yet; `bsd_init` uses this to start pid 1 and M1.4 builds `execve` and
//! `posix_spawn` on the same steps: look the file up, check the ELF, build the new address
//! space completely, and only then start a thread in it.

use alloc::vec::Vec;

use mach::KernReturn;
use mach::vm::{VmInherit, VmProt};
use osfmk::arm64::copyio::{UserAddr, copyout};
use osfmk::kern::sched_prim::thread_setrun;
use osfmk::kern::task::Task;
use osfmk::kern::thread_act::thread_create_user;
use osfmk::vm::vm_map::{VmMap, VmPlacement};
use osfmk::vm::vm_page::{round_page, trunc_page};
use sys::Errno;

use crate::kern::bsd_init::rootvnode;
use crate::kern::exec_elf::{ImagePlan, parse_elf_image};
use crate::kern::exec_stack::build_exec_stack;
use crate::kern::kern_descrip::FileDesc;
use crate::kern::kern_proc::{Pid, Proc, Ucred};
use crate::vfs::vfs_lookup::namei;
use crate::vfs::vnode::VType;

/// Top of the user stack (Darwin puts arm64 stacks just below the 4 GiB + … region; ours
/// sits well above the image area and far below the end of the user range).
pub const USRSTACK64: u64 = 0x0000_0001_7000_0000;
/// User stack size (Darwin's default main-thread stack, 8 MiB; pages appear as touched).
pub const USER_STACK_SIZE: u64 = 8 * 1024 * 1024;
/// Never-accessible gap below the stack.
pub const USER_STACK_GUARD: u64 = 64 * 1024;

fn kr_to_errno(_: KernReturn) -> Errno {
    Errno::ENOMEM
}

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

/// Map each segment (zero-fill, filled lazily past the file bytes), copy the file bytes in
/// through the writable mapping, then lower the protection to the segment's own.
fn load_segments(map: &mut VmMap, plan: &ImagePlan, file: &[u8]) -> Result<(), Errno> {
    for seg in &plan.segments {
        let end = seg.vaddr.checked_add(seg.memsz).ok_or(Errno::ENOEXEC)?;
        let (start, end) = (trunc_page(seg.vaddr), round_page(end));
        let at = VmPlacement::Fixed { addr: start, overwrite: false };
        map.enter(at, end - start, 0, VmProt::DEFAULT, VmProt::ALL, VmInherit::DEFAULT)
            .map_err(kr_to_errno)?;
        let from = usize::try_from(seg.file_offset).map_err(|_| Errno::ENOEXEC)?;
        let len = usize::try_from(seg.filesz).map_err(|_| Errno::ENOEXEC)?;
        let bytes = from.checked_add(len).and_then(|to| file.get(from..to)).ok_or(Errno::ENOEXEC)?;
        copyout(map, bytes, UserAddr(seg.vaddr)).map_err(|_| Errno::ENOMEM)?;
        map.protect(start, end, vm_prot(&seg.prot), false).map_err(kr_to_errno)?;
    }
    Ok(())
}

/// The last path component, for `p_comm`.
fn basename(path: &[u8]) -> &str {
    let name = path.rsplit(|&b| b == b'/').find(|c| !c.is_empty()).unwrap_or(path);
    core::str::from_utf8(name).unwrap_or("?")
}

/// Create process `pid` running the program at `path` with `argv`/`envp`.
pub fn exec_new_process(
    pid: Pid,
    ppid: Pid,
    path: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    cred: Ucred,
    fds: FileDesc,
) -> Result<(), Errno> {
    let root = rootvnode().ok_or(Errno::ENOENT)?;
    let vp = namei(&root, &root, path, true)?;
    match vp.vtype() {
        VType::VREG => {}
        VType::VDIR => return Err(Errno::EACCES),
        _ => return Err(Errno::EACCES),
    }
    let file = vp.read_to_vec()?;
    let plan = parse_elf_image(&file)?;

    let task = Task::create().map_err(kr_to_errno)?;
    let map_lock = task.map.as_ref().ok_or(Errno::ENOMEM)?;
    let stack = {
        let mut map = map_lock.lock();
        load_segments(&mut map, &plan, &file)?;
        // The stack grows down from USRSTACK64 and is filled on demand; below it, a guard
        // entry that can never be made accessible turns a runaway stack into a fault.
        let stack_base = USRSTACK64 - USER_STACK_SIZE;
        let at = VmPlacement::Fixed { addr: stack_base - USER_STACK_GUARD, overwrite: false };
        map.enter(at, USER_STACK_GUARD, 0, VmProt::NONE, VmProt::NONE, VmInherit::DEFAULT)
            .map_err(kr_to_errno)?;
        let at = VmPlacement::Fixed { addr: stack_base, overwrite: false };
        map.enter(at, USER_STACK_SIZE, 0, VmProt::DEFAULT, VmProt::DEFAULT, VmInherit::DEFAULT)
            .map_err(kr_to_errno)?;
        let mut apple_path: Vec<u8> = b"executable_path=".to_vec();
        apple_path.extend_from_slice(path);
        let stack = build_exec_stack(USRSTACK64, argv, envp, &[&apple_path])?;
        copyout(&mut map, &stack.image, UserAddr(stack.sp)).map_err(|_| Errno::E2BIG)?;
        stack
    };
    let thread = thread_create_user(task.clone(), plan.entry, stack.sp, &[]).ok_or(Errno::ENOMEM)?;
    Proc::create(pid, ppid, basename(path), task, cred, fds);
    thread_setrun(thread);
    Ok(())
}
