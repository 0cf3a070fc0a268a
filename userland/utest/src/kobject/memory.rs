//! Named memory entries: `mach_make_memory_entry_64` and `mach_vm_map`, shared between tasks.

use super::*;

pub(super) fn shared_memory(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let rw = VmProt::DEFAULT.0;
    // An entry for two pages of ours, mapped a second time into ourselves: one memory.
    let mut base = 0u64;
    check(mach_vm_allocate(me, &mut base, 8192, VM_FLAGS_ANYWHERE) == SUCCESS, "allocate")?;
    // SAFETY: our fresh allocation.
    unsafe { core::ptr::write_volatile(base as *mut u64, 0x1234) };
    let (mut size, mut entry) = (8192u64, 0);
    check(mach_make_memory_entry_64(me, &mut size, base, rw as u32, &mut entry, 0) == SUCCESS, "make entry")?;
    check(size == 8192 && type_of(entry) == MACH_PORT_TYPE_SEND, "a send right for 8 KiB")?;
    let mut alias = 0u64;
    check(
        mach_vm_map(me, &mut alias, 8192, 0, VM_FLAGS_ANYWHERE, entry, 0, false, rw, rw, 0) == SUCCESS,
        "map",
    )?;
    // SAFETY: both map the same two pages.
    unsafe {
        check(core::ptr::read_volatile(alias as *const u64) == 0x1234, "alias sees the data")?;
        core::ptr::write_volatile((alias + 4096) as *mut u64, 0x5678);
        check(core::ptr::read_volatile((base + 4096) as *const u64) == 0x5678, "and writes go both ways")?;
    }
    // Errors: beyond the entry, more protection than it has, a port that is no entry.
    let mut bad = 0u64;
    check(
        mach_vm_map(me, &mut bad, 3 * 4096, 0, VM_FLAGS_ANYWHERE, entry, 0, false, rw, rw, 0)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "too big",
    )?;
    check(
        mach_vm_map(me, &mut bad, 4096, 0, VM_FLAGS_ANYWHERE, me, 0, false, rw, rw, 0)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "not an entry",
    )?;
    let (mut rsize, mut ro) = (4096u64, 0);
    check(
        mach_make_memory_entry_64(me, &mut rsize, 0, VmProt::READ.0 as u32, &mut ro, entry) == SUCCESS,
        "read-only sub-entry",
    )?;
    check(
        mach_vm_map(me, &mut bad, 4096, 0, VM_FLAGS_ANYWHERE, ro, 0, false, rw, rw, 0)
            == KernReturn::KERN_PROTECTION_FAILURE,
        "no write through a read-only entry",
    )?;
    let (mut huge, mut none) = (u64::MAX, 0);
    let kr = mach_make_memory_entry_64(me, &mut huge, 0, rw as u32, &mut none, entry);
    check(kr == KernReturn::KERN_INVALID_ARGUMENT, "a sub-entry size that overflows")?;
    let mut hole = 0;
    check(mach_make_memory_entry_64(me, &mut rsize, 0x10, rw as u32, &mut hole, 0) != SUCCESS, "a hole")?;

    // Between tasks: fresh memory, mapped into a child; the child's write shows up here.
    let (mut csize, mut fresh) = (4096u64, 0);
    check(
        mach_make_memory_entry_64(me, &mut csize, 0, rw as u32 | MAP_MEM_NAMED_CREATE, &mut fresh, 0)
            == SUCCESS,
        "named create",
    )?;
    let mut here = 0u64;
    check(
        mach_vm_map(me, &mut here, 4096, 0, VM_FLAGS_ANYWHERE, fresh, 0, false, rw, rw, 0) == SUCCESS,
        "map here",
    )?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // The parent tells us where it mapped the memory through our mailbox.
            for _ in 0..5000 {
                let at = read_mailbox(1);
                if at != 0 {
                    // SAFETY: the parent mapped a page there for us.
                    unsafe { core::ptr::write_volatile(at as *mut u64, 0xc0ffee) };
                    exit_process(0);
                }
                crate::sched::sleep_ms(1);
            }
            exit_process(1)
        }
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    let mut there = 0u64;
    check(
        mach_vm_map(t, &mut there, 4096, 0, VM_FLAGS_ANYWHERE, fresh, 0, false, rw, rw, 0) == SUCCESS,
        "map into the child",
    )?;
    let at = there.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, at.as_ptr() as u64, 8) == SUCCESS, "tell the child")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "child wrote")?;
    // SAFETY: our mapping of the shared page.
    check(unsafe { core::ptr::read_volatile(here as *const u64) } == 0xc0ffee, "we see the child's write")?;
    for name in [entry, ro, fresh, t] {
        let _ = mach_port_deallocate(me, name);
    }
    for (a, n) in [(base, 8192), (alias, 8192), (here, 4096)] {
        let _ = mach_vm_deallocate(me, a, n);
    }
    Ok(())
}
