//! The BSD kernel proper: processes, exec, the syscall table.

pub mod exec_elf;
pub mod exec_stack;
