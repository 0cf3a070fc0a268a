//! Generates the syscall table from `syscalls.master`, the single definition of the BSD calls.
//!
//! Output (`$OUT_DIR/syscalls.rs`, included by `sys::syscalls`):
//! * `SYS_<name>` number constants for every assigned call;
//! * `NSYSENT` and `SYSENT_INFO`, one descriptor per slot (name, argument count, return kind,
//!   status) for the kernel's dispatcher and for diagnostics;
//! * the `for_each_std_syscall!` macro, which hands the implemented calls to a caller's macro
//!   as `(number, name, RETURN, [arg: type, ...])` tuples, each type a `sys::types` name: the
//!   kernel builds `sysent` from it and `libsys` builds its user stubs from it.
//!
//! The reading and writing live in `src/syscalls_master.rs`, shared with the host tests.

#[path = "src/syscalls_master.rs"]
mod syscalls_master;

fn main() {
    println!("cargo:rerun-if-changed=syscalls.master");
    println!("cargo:rerun-if-changed=src/syscalls_master.rs");
    let text = std::fs::read_to_string("syscalls.master").expect("read syscalls.master");
    let (nsysent, entries) = syscalls_master::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let out = syscalls_master::emit(nsysent, &entries);
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("syscalls.rs");
    std::fs::write(dest, out).expect("write syscalls.rs");
}
