//! `mach_port_*` routines on our own space: names, refs, attributes, insert / extract.

use super::*;

pub(super) fn port_routines(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let port = new_port()?;
    let (mut names, mut n, mut types, mut tn) = (0u64, 0u32, 0u64, 0u32);
    check(mach_port_names(task, &mut names, &mut n, &mut types, &mut tn) == SUCCESS, "names")?;
    check(n == tn && n >= 3, "name and type counts")?;
    // SAFETY: the kernel mapped two arrays of `n` u32s for us.
    let (ns, ts) = unsafe {
        (
            core::slice::from_raw_parts(names as *const u32, n as usize),
            core::slice::from_raw_parts(types as *const u32, n as usize),
        )
    };
    let at = ns.iter().position(|&x| x == port).ok_or("our port is listed")?;
    check(ts[at] == MACH_PORT_TYPE_RECEIVE, "as a receive right")?;
    check(ns.contains(&task), "our task port is listed")?;
    let _ = mach_vm_deallocate(task, names, 4 * u64::from(n));
    let _ = mach_vm_deallocate(task, types, 4 * u64::from(tn));

    // insert_right MAKE_SEND under the receive right's own name merges; refs count.
    check(mach_port_insert_right(task, port, port, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "insert_right")?;
    check(type_of(port) == MACH_PORT_TYPE_SEND_RECEIVE, "send + receive")?;
    let mut refs = 0;
    check(
        mach_port_get_refs(task, port, MACH_PORT_RIGHT_SEND, &mut refs) == SUCCESS && refs == 1,
        "1 send ref",
    )?;
    check(
        mach_port_insert_right(task, port, port, MACH_MSG_TYPE_COPY_SEND) == SUCCESS && {
            mach_port_get_refs(task, port, MACH_PORT_RIGHT_SEND, &mut refs);
            refs == 2
        },
        "2 send refs",
    )?;
    // Another name for a port we already name: KERN_RIGHT_EXISTS; a used name: KERN_NAME_EXISTS.
    let other = new_port()?;
    check(
        mach_port_insert_right(task, 0x7703, port, MACH_MSG_TYPE_MAKE_SEND) == KernReturn::KERN_RIGHT_EXISTS,
        "right exists",
    )?;
    check(
        mach_port_insert_right(task, other, port, MACH_MSG_TYPE_MAKE_SEND) == KernReturn::KERN_NAME_EXISTS,
        "name exists",
    )?;
    // extract_right: a send-once right made from our receive right, under a new name.
    let (mut got, mut ty) = (0, 0);
    let kr = mach_port_extract_right(task, other, MACH_MSG_TYPE_MAKE_SEND_ONCE, &mut got, &mut ty);
    check(
        kr == SUCCESS && ty == MACH_MSG_TYPE_PORT_SEND_ONCE && type_of(got) == MACH_PORT_TYPE_SEND_ONCE,
        "extract",
    )?;
    let kr = mach_port_extract_right(task, 0x4321, MACH_MSG_TYPE_MAKE_SEND, &mut got, &mut ty);
    check(kr == KernReturn::KERN_INVALID_NAME, "extract from a bad name")?;
    let _ = mach_port_deallocate(task, got);

    // Attributes: the queue limit, the receive status, and a smaller limit enforced.
    let mut info = [0u32; 17];
    let mut count = 1;
    check(
        mach_port_get_attributes(task, port, 1, &mut info, &mut count) == SUCCESS && info[0] == 5,
        "qlimit 5",
    )?;
    check(mach_port_set_attributes(task, port, 1, &[1]) == SUCCESS, "set qlimit 1")?;
    check(
        mach_port_set_attributes(task, port, 1, &[5000]) == KernReturn::KERN_INVALID_VALUE,
        "qlimit too big",
    )?;
    check(
        mach_port_set_attributes(task, task, 1, &[1]) == KernReturn::KERN_INVALID_RIGHT,
        "not a receive right",
    )?;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 1));
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "first fits")?;
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_SEND_TIMED_OUT, "second does not")?;
    let mut count = 10;
    check(mach_port_get_attributes(task, port, 2, &mut info, &mut count) == SUCCESS, "receive status")?;
    check(count == 10 && info[3] == 1 && info[4] == 1 && info[6] == 1, "qlimit, msgcount, srights")?;
    let mut count = 10;
    check(
        mach_port_get_attributes(task, port, 77, &mut info, &mut count) == KernReturn::KERN_INVALID_ARGUMENT,
        "flavor",
    )?;
    let _ = mach_port_mod_refs(task, port, MACH_PORT_RIGHT_SEND, -2);
    drop_port(port);
    drop_port(other);
    Ok(())
}
