//! Mach traps: `svc #0x80` with x16 = −N; the result (a `kern_return_t` or a port name)
//! comes back in x0 and the carry flag means nothing (reference §1.2). The stubs are
//! generated from `mach::for_each_mach_trap!`, typed as the kernel's handlers are: each
//! argument of its declared type, the result decoded as the trap's return type. A stub is
//! `unsafe` only if an argument names memory of ours; the others are plain functions.

/// The raw trap.
///
/// # Safety
/// The trap may write user memory named by its arguments; the caller vouches for them.
#[inline(always)]
pub unsafe fn mach_trap(nr: u32, a: [u64; 8]) -> u64 {
    let x0: u64;
    // SAFETY: the kernel changes only x0 for Mach traps.
    unsafe {
        core::arch::asm!(
            "svc #0x80",
            in("x16") -(nr as i64) as u64,
            inlateout("x0") a[0] => x0,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            in("x6") a[6], in("x7") a[7],
            options(nostack),
        );
    }
    x0
}

/// The argument types as user space passes them: XNU's (`mach::traps::types`), and a user
/// address as a raw pointer.
#[allow(non_camel_case_types)]
pub mod args {
    pub use mach::traps::types::*;

    /// `user_addr_t`: memory the trap reads or writes.
    pub type user_addr_t = *mut core::ffi::c_void;
}

/// Stubs from the trap declarations. A trap with an argument naming memory of ours
/// (`user_addr_t`, or `mach_vm_address_t`: a range the trap reads, writes, unmaps or
/// reprotects) gets an `unsafe fn`; any other is a safe `fn` (its arguments are names and
/// numbers the kernel checks).
macro_rules! stubs {
    ($( ($nr:literal, $name:ident, ($($arg:ident: $ty:ident),*) -> $ret:ident) ),* $(,)?) => {
        $( stub!(@scan [$($ty)*] $nr, $name, ($($arg: $ty),*) -> $ret); )*
    };
}

macro_rules! stub {
    // Look for an argument naming memory.
    (@scan [] $($t:tt)*) => { stub!(@safe $($t)*); };
    (@scan [user_addr_t $($rest:ident)*] $($t:tt)*) => { stub!(@unsafe $($t)*); };
    (@scan [mach_vm_address_t $($rest:ident)*] $($t:tt)*) => { stub!(@unsafe $($t)*); };
    (@scan [$other:ident $($rest:ident)*] $($t:tt)*) => { stub!(@scan [$($rest)*] $($t)*); };
    (@safe $nr:literal, $name:ident, ($($arg:ident: $ty:ident),*) -> $ret:ident) => {
        #[doc = concat!("Mach trap `", stringify!($name), "` (−", stringify!($nr), "): `(",
            $(stringify!($arg), ": ", stringify!($ty), ", ",)* ") -> ", stringify!($ret), "`.")]
        // The stub mirrors the trap's register list, up to all eight argument registers.
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: args::$ty),*)
            -> <mach::traps::returns::$ret as mach::traps::TrapReturn>::User
        {
            let a = crate::pad_args::<8>(&[$(mach::traps::TrapArg::into_reg($arg)),*]);
            // SAFETY: no argument names memory of ours, so the trap touches none.
            let x0 = unsafe { mach_trap($nr, a) };
            <mach::traps::returns::$ret as mach::traps::TrapReturn>::decode(x0)
        }
    };
    (@unsafe $nr:literal, $name:ident, ($($arg:ident: $ty:ident),*) -> $ret:ident) => {
        #[doc = concat!("Mach trap `", stringify!($name), "` (−", stringify!($nr), "): `(",
            $(stringify!($arg), ": ", stringify!($ty), ", ",)* ") -> ", stringify!($ret), "`.")]
        ///
        /// # Safety
        /// Pointer and address arguments must be valid for the trap.
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn $name($($arg: args::$ty),*)
            -> <mach::traps::returns::$ret as mach::traps::TrapReturn>::User
        {
            let a = crate::pad_args::<8>(&[$(mach::traps::TrapArg::into_reg($arg)),*]);
            // SAFETY: forwarded from this stub's contract.
            let x0 = unsafe { mach_trap($nr, a) };
            <mach::traps::returns::$ret as mach::traps::TrapReturn>::decode(x0)
        }
    };
}
mach::for_each_mach_trap!(stubs);

/// `mach_task_self()`.
pub fn mach_task_self() -> mach::MachPortName {
    task_self_trap()
}

/// `mach_thread_self()`.
pub fn mach_thread_self() -> mach::MachPortName {
    thread_self_trap()
}

/// `mach_timebase_info()`.
pub fn timebase_info() -> Result<mach::time::MachTimebaseInfo, mach::KernReturn> {
    let mut info = mach::time::MachTimebaseInfo::default();
    // SAFETY: `info` is a valid, writable `mach_timebase_info`.
    let kr = unsafe { mach_timebase_info_trap(core::ptr::from_mut(&mut info).cast()) };
    kr.into_result().map(|()| info)
}

/// `mach_absolute_time()` through the trap (−3).
pub fn mach_absolute_time_trap() -> u64 {
    // SAFETY: takes no arguments.
    unsafe { mach_trap(mach::traps::MACH_ABSOLUTE_TIME_TRAP, [0; 8]) }
}

/// `mach_absolute_time()` read straight from the counter, as Darwin's user space does.
pub fn mach_absolute_time() -> u64 {
    let t: u64;
    // SAFETY: the kernel grants EL0 access to CNTVCT_EL0 (CNTKCTL_EL1.EL0VCTEN).
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack, preserves_flags))
    };
    t
}
