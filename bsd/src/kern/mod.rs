//! The BSD kernel proper: processes, exec, the syscall table.
