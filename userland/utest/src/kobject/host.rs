//! The host port's routines (`host_info`, `host_statistics`) and XNU's MIG error replies.

use super::*;

pub(super) fn host_and_errors(_: &Args) -> Result<(), &'static str> {
    let host = mach_host_self();
    let mut info = [0u32; 32];
    let mut count = 12;
    check(host_info(host, HOST_BASIC_INFO, &mut info, &mut count) == SUCCESS, "host_info")?;
    check(info[0] >= 1 && info[2] > 0 && info[3] == 0x0100_000c, "cpus, memory, CPU_TYPE_ARM64")?;
    let mut count = 15;
    check(host_statistics(host, HOST_VM_INFO, &mut info, &mut count) == SUCCESS, "host_statistics")?;
    check(count == 15 && info[0] > 0 && info[1] > 0, "free and active pages")?;

    // An unknown id gets a 36-byte mig_reply_error_t with MIG_BAD_ID, id + 100.
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    buf.set_header(&simple(mach_task_self(), bits, reply, 3499));
    // SAFETY: a 512-byte buffer.
    let mr = unsafe { mach_msg(buf.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, 24, 512, reply, 0, 0) };
    check(mr == MACH_MSG_SUCCESS, "request")?;
    let h = buf.header();
    check(h.msgh_id == 3599 && h.msgh_size == 36, "reply id and size")?;
    check(buf.word(32) as i32 == MIG_BAD_ID.0, "MIG_BAD_ID")?;
    // A known id with a body of the wrong size: MIG_BAD_ARGUMENTS.
    buf.set_header(&simple(mach_task_self(), bits, reply, mach::defs::TASK_INFO.id));
    // SAFETY: as above.
    let mr = unsafe { mach_msg(buf.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, 28, 512, reply, 0, 0) };
    check(mr == MACH_MSG_SUCCESS && buf.word(32) as i32 == MIG_BAD_ARGUMENTS.0, "MIG_BAD_ARGUMENTS")?;
    // A routine that user-space servers answer (exception handlers, the bootstrap server)
    // is as unknown to a kernel port as an id nobody declared.
    for id in [mach::defs::MACH_EXCEPTION_RAISE.id, mach::defs::BOOTSTRAP_LOOK_UP.id] {
        buf.set_header(&simple(mach_task_self(), bits, reply, id));
        // SAFETY: as above.
        let mr = unsafe { mach_msg(buf.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, 24, 512, reply, 0, 0) };
        check(mr == MACH_MSG_SUCCESS && buf.header().msgh_id == id + 100, "user-served id: a reply")?;
        check(buf.word(32) as i32 == MIG_BAD_ID.0, "user-served id: MIG_BAD_ID")?;
    }
    // One lookup for every kernel object: a host routine on a task port is the wrong type,
    // and a semaphore trap on a bare receive right lacks the send right it looks up with.
    let mut count = 12;
    check(
        host_info(mach_task_self(), HOST_BASIC_INFO, &mut info, &mut count)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "host_info on a task port",
    )?;
    let receive_only = new_port()?;
    check(
        semaphore_signal(receive_only) == KernReturn::KERN_INVALID_RIGHT,
        "semaphore trap without a send right",
    )?;
    drop_port(receive_only);
    // No reply port: the request is served and nothing comes back.
    buf.set_header(&simple(mach_task_self(), mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 3499));
    check(buf.send(24, 0, 0) == MACH_MSG_SUCCESS, "one-way request")?;
    check(buf.receive(reply, MACH_RCV_TIMEOUT, 0) == MACH_RCV_TIMED_OUT, "no reply")?;
    drop_port(reply);
    Ok(())
}
