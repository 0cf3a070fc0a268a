//! Threads for libpthread (the kernel half of XNU's pthread support): registering the entry
//! point, creating a thread on a caller-provided stack, and ending one.
//!
//! Without PTHREAD_START_CUSTOM the kernel maps the stack itself (an unmapped guard, the
//! stack, and room for the pthread structure above it) and returns the pthread address.
//!
//! `bsdthread_create` starts the new thread at the entry point registered with
//! `bsdthread_register` (libpthread's `thread_start`), with x0 = the pthread, x1 = its
//! thread port name, x2 = the function, x3 = its argument, x4 = the stack, x5 = the flags,
//! SP = the stack, and its TSD base (TPIDRRO_EL0) = pthread + the registered TSD offset.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use mach::vm::{VM_FLAGS_ANYWHERE, VmProt};
use osfmk::arm64::pmap::{USER_VM_MAX, USER_VM_MIN};
use osfmk::kern::sched_prim::thread_setrun;
use osfmk::kern::sched_prim::thread_terminate;
use osfmk::kern::thread_act::{thread_create_user, thread_set_user_tsd};
use osfmk::vm::user_ptr::UserAddr;
use osfmk::vm::vm_page::round_page;
use osfmk::vm::vm_user::{mach_vm_allocate, mach_vm_deallocate, mach_vm_protect};
use sys::Errno;
use sys::pthread::PTHREAD_START_CUSTOM;

use crate::kern::kern_proc::Proc;

/// Most threads one task may have (XNU limits threads per task too; ours is a round number).
pub const MAX_THREADS_PER_TASK: usize = 512;

fn user_addr(a: UserAddr) -> bool {
    (USER_VM_MIN..USER_VM_MAX).contains(&a.0)
}

/// `bsdthread_register(threadstart, wqthread, flags, …, tsd_offset)`: remember libpthread's
/// entry points. Returns the supported feature bits (none of the optional ones yet).
pub fn bsdthread_register(
    p: &Arc<Proc>,
    threadstart: UserAddr,
    _wqthread: UserAddr,
    tsd_offset: u32,
) -> Result<u64, Errno> {
    if !user_addr(threadstart) || tsd_offset > 0x1_0000 {
        return Err(Errno::EINVAL);
    }
    p.p_threadstart.store(threadstart.0, Ordering::Relaxed);
    p.p_pth_tsd_offset.store(u64::from(tsd_offset), Ordering::Relaxed);
    Ok(0)
}

/// `bsdthread_create(func, func_arg, stack, pthread, flags)`: returns the pthread address.
/// Without PTHREAD_START_CUSTOM, `stack` is the size of the stack wanted.
pub fn bsdthread_create(
    p: &Arc<Proc>,
    func: UserAddr,
    func_arg: UserAddr,
    stack: UserAddr,
    pthread: UserAddr,
    flags: u32,
) -> Result<UserAddr, Errno> {
    let start = p.p_threadstart.load(Ordering::Relaxed);
    if start == 0 || !user_addr(func) {
        return Err(Errno::EINVAL);
    }
    if p.task.threads().len() >= MAX_THREADS_PER_TASK {
        return Err(Errno::EAGAIN);
    }
    let (stack, pthread) = if flags & PTHREAD_START_CUSTOM != 0 {
        if !user_addr(stack) || !stack.0.is_multiple_of(16) || !user_addr(pthread) {
            return Err(Errno::EINVAL);
        }
        (stack.0, pthread.0)
    } else {
        // `stack` is the stack size wanted: the kernel maps [guard | stack | pthread].
        allocate_thread_stack(p, stack.0)?
    };
    let t = thread_create_user(p.task.clone(), start, stack, &[]).ok_or(Errno::ENOMEM)?;
    let port = p.task.itk_space.insert_send(&t.self_port()).map_err(|_| Errno::ENOMEM)?;
    let tsd = pthread.wrapping_add(p.p_pth_tsd_offset.load(Ordering::Relaxed));
    thread_set_user_tsd(&t, tsd, &[pthread, port as u64, func.0, func_arg.0, stack, u64::from(flags)]);
    thread_setrun(t);
    Ok(UserAddr(pthread))
}

/// Room the kernel leaves above a stack it allocates, for libpthread's `struct _pthread`.
pub const PTHREAD_SIZE: u64 = 4096;
/// The unmapped guard below a stack the kernel allocates.
pub const PTHREAD_GUARD_SIZE: u64 = 16 * 1024;
/// The largest stack `bsdthread_create` allocates (XNU caps it too).
pub const PTHREAD_STACK_MAX: u64 = 512 * 1024 * 1024;

/// Map `[guard | stack | pthread]` anywhere; returns (initial SP, pthread address).
fn allocate_thread_stack(p: &Arc<Proc>, size: u64) -> Result<(u64, u64), Errno> {
    if size == 0 || size > PTHREAD_STACK_MAX {
        return Err(Errno::EINVAL);
    }
    let size = round_page(size);
    let total = PTHREAD_GUARD_SIZE + size + PTHREAD_SIZE;
    p.task.with_map(|map| {
        let base = mach_vm_allocate(map, 0, total, VM_FLAGS_ANYWHERE).map_err(|_| Errno::ENOMEM)?;
        if mach_vm_protect(map, base, PTHREAD_GUARD_SIZE, false, VmProt::NONE.0).is_err() {
            let _ = mach_vm_deallocate(map, base, total);
            return Err(Errno::ENOMEM);
        }
        let pthread = base + PTHREAD_GUARD_SIZE + size;
        Ok((pthread, pthread))
    })
}

/// `bsdthread_terminate(stackaddr, freesize, port, sem)`: free `[stackaddr, +freesize)`
/// (the thread's own stack, which libpthread hands back), drop the thread's port name and
/// end the calling thread.
pub fn bsdthread_terminate(
    p: &Arc<Proc>,
    stackaddr: UserAddr,
    freesize: usize,
    port: u32,
) -> Result<(), Errno> {
    if freesize != 0 {
        // XNU ends the thread even if the range was bad; so do we.
        let _ = p.task.with_map(|map| mach_vm_deallocate(map, stackaddr.0, freesize as u64));
    }
    if port != 0 {
        // A bad name is the caller's problem; the thread ends either way, as in XNU.
        let _ = p.task.itk_space.deallocate(port);
    }
    // The thread ends on its way back to user mode, with nothing left on this stack; if it
    // is the last, the process exits then (`thread_terminated`).
    thread_terminate(&osfmk::kern::sched_prim::current_thread());
    Err(Errno::EJUSTRETURN)
}
