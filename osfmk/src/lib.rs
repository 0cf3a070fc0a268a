//! The Mach core (XNU's `osfmk`): execution and resources.
//!
//! Rooms:
//! * [`kern`] — tasks, threads, the scheduler (`sched_prim`), locks, the Mach trap table
//!   (`syscall_sw`), exceptions and the hooks BSD plugs into, clocks, the host object and
//!   the processors it reports (`processor`);
//! * [`ipc`] — port name spaces, entries, ports and rights;
//! * [`vm`] — the physical page pool and task address spaces;
//! * [`arm64`] — the machine layer: pmap, context switch, copyin/copyout, trap frame, ESR.
//!
//! Mach never depends on BSD. Where it must call up (an exception became a signal, an AST
//! asks for signal delivery) it goes through `kern::exception::BsdHooks`, which BSD installs.
//!
//! To add a Mach trap: declare it in `mach::traps::for_each_mach_trap!` (number, name, XNU's
//! argument and return types) and write the handler of the same name, taking those types, in
//! its subsystem, reexported by `kern::syscall_sw`'s `mod handlers`; the typed user stub in
//! `libsys` appears by itself.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "test-support"))]
extern crate std;

pub mod arm64;
pub mod ipc;
pub mod kern;
pub mod vm;

#[cfg(any(test, feature = "test-support"))]
pub mod test_rng;
