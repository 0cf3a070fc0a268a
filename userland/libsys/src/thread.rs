//! Threads on the kernel's pthread interface: `bsdthread_register` once, then
//! `bsdthread_create` with a caller-provided stack and a [`ThreadSlot`] standing in for the
//! pthread structure. The new thread runs `func(arg)` and then ends itself with
//! `bsdthread_terminate`, after marking its slot done (so its stack may be reused).

use core::sync::atomic::{AtomicU32, Ordering};

use sys::Errno;
use sys::pthread::PTHREAD_START_CUSTOM;

/// Stands in for `struct _pthread`: the new thread's TSD base and its completion flag.
#[repr(C, align(16))]
pub struct ThreadSlot {
    done: AtomicU32,
    started: AtomicU32,
}

impl ThreadSlot {
    /// A slot for one thread at a time.
    pub const fn new() -> ThreadSlot {
        ThreadSlot { done: AtomicU32::new(0), started: AtomicU32::new(0) }
    }

    /// Has the thread finished (and stopped using its stack)?
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire) != 0
    }

    /// Wait for the thread to finish, yielding the CPU meanwhile.
    pub fn join(&self) {
        while !self.is_done() {
            crate::mach_traps::swtch_pri(0);
        }
    }
}

impl Default for ThreadSlot {
    fn default() -> Self {
        Self::new()
    }
}

// Entry of every new thread (registered as libpthread's `thread_start`): x0 = pthread (our
// slot), x1 = thread port name, x2 = func, x3 = arg. Calls func(arg), marks the slot done,
// then bsdthread_terminate(0, 0, port, 0); never touches the stack after func returns.
core::arch::global_asm!(
    r#"
.global __libsys_thread_start
__libsys_thread_start:
    mov     x19, x0
    mov     x20, x1
    mov     x29, xzr
    mov     x30, xzr
    mov     x0, x3
    blr     x2
    mov     w9, #1
    stlr    w9, [x19]
    mov     x0, xzr
    mov     x1, xzr
    mov     x2, x20
    mov     x3, xzr
    mov     x16, #{terminate}
    svc     #0x80
1:  b       1b
"#,
    terminate = const sys::syscalls::SYS_bsdthread_terminate,
);

unsafe extern "C" {
    fn __libsys_thread_start();
}

/// Register the thread entry point with the kernel (once per process).
pub fn thread_register() -> Result<(), Errno> {
    // SAFETY: the entry point is our trampoline; no pointers are dereferenced.
    unsafe {
        crate::syscall::bsdthread_register(__libsys_thread_start as *const () as u64, 0, 0, 0, 0, 0, 0)
            .map(|_| ())
    }
}

/// Start a thread running `func(arg)` on `stack` (its top is used; 16-byte aligned).
pub fn thread_spawn(
    func: extern "C" fn(u64),
    arg: u64,
    stack: &'static mut [u8],
    slot: &'static ThreadSlot,
) -> Result<(), Errno> {
    slot.done.store(0, Ordering::Release);
    slot.started.store(1, Ordering::Relaxed);
    let top = (stack.as_mut_ptr() as u64 + stack.len() as u64) & !15;
    // SAFETY: the stack and slot are 'static and not used by anyone else until the thread
    // marks the slot done.
    unsafe {
        crate::syscall::bsdthread_create(
            func as *const () as u64,
            arg,
            top,
            slot as *const ThreadSlot as u64,
            PTHREAD_START_CUSTOM,
        )
        .map(|_| ())
    }
}
