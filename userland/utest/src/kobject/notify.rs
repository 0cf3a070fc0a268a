//! Port notifications: send-once, port-destroyed, port-deleted, dead-name, no-senders.

use super::*;

/// Arm notification `msgid` on `name`, sent to `notify` (a send-once right made from it).
fn arm(name: MachPortName, msgid: i32, sync: u32, notify: MachPortName) -> KernReturn {
    let mut previous = 0;
    mach_port_request_notification(
        mach_task_self(),
        name,
        msgid,
        sync,
        notify,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
        &mut previous,
    )
}

/// The next message on `port` within `ms`: (id, the word after the NDR record).
fn notification(port: MachPortName, ms: u32) -> Option<(i32, u32)> {
    let mut buf = MsgBuf::new();
    (buf.receive(port, MACH_RCV_TIMEOUT, ms) == MACH_MSG_SUCCESS)
        .then(|| (buf.header().msgh_id, buf.word(32)))
}

pub(super) fn notifications(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let notify = new_port()?;
    // Send-once: a send-once right destroyed unused tells its port.
    let port = new_port()?;
    let (mut once, mut ty) = (0, 0);
    check(
        mach_port_extract_right(task, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &mut once, &mut ty) == SUCCESS,
        "once",
    )?;
    check(mach_port_deallocate(task, once) == SUCCESS, "drop the send-once right")?;
    check(notification(port, 0).map(|n| n.0) == Some(MACH_NOTIFY_SEND_ONCE), "send-once notification")?;
    // Port-destroyed: the receive right comes back instead of dying.
    check(arm(port, MACH_NOTIFY_PORT_DESTROYED, 0, notify) == SUCCESS, "arm port-destroyed")?;
    check(mach_port_mod_refs(task, port, MACH_PORT_RIGHT_RECEIVE, -1) == SUCCESS, "destroy the right")?;
    let mut buf = MsgBuf::new();
    check(buf.receive(notify, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "port-destroyed arrives")?;
    check(
        buf.header().msgh_id == MACH_NOTIFY_PORT_DESTROYED
            && buf.header().msgh_bits & MACH_MSGH_BITS_COMPLEX != 0,
        "id",
    )?;
    let back = buf.word(28);
    check(
        type_of(back) == MACH_PORT_TYPE_RECEIVE && buf.0[38] == MACH_MSG_TYPE_PORT_RECEIVE as u8,
        "receive right back",
    )?;
    drop_port(back);
    // Port-deleted: a name with a dead-name request goes away while the port lives.
    let other = new_port()?;
    let (mut send, mut ty) = (0, 0);
    check(
        mach_port_extract_right(task, other, MACH_MSG_TYPE_MAKE_SEND, &mut send, &mut ty) == SUCCESS,
        "send",
    )?;
    check(arm(send, MACH_NOTIFY_DEAD_NAME, 0, notify) == SUCCESS, "arm dead-name")?;
    check(type_of(send) == MACH_PORT_TYPE_SEND_RECEIVE | MACH_PORT_TYPE_DNREQUEST, "DNREQUEST bit")?;
    check(mach_port_mod_refs(task, send, MACH_PORT_RIGHT_RECEIVE, -1) == SUCCESS, "drop the receive right")?;
    // The port died with its own receive right: dead-name, and one more reference.
    check(notification(notify, 0) == Some((MACH_NOTIFY_DEAD_NAME, send)), "dead-name for our own port")?;
    let mut refs = 0;
    check(
        mach_port_get_refs(task, send, MACH_PORT_RIGHT_DEAD_NAME, &mut refs) == SUCCESS && refs == 2,
        "2 refs",
    )?;
    let _ = mach_port_mod_refs(task, send, MACH_PORT_RIGHT_DEAD_NAME, -2);
    let live = new_port()?;
    check(
        mach_port_extract_right(task, live, MACH_MSG_TYPE_MAKE_SEND_ONCE, &mut once, &mut ty) == SUCCESS,
        "once",
    )?;
    check(arm(once, MACH_NOTIFY_DEAD_NAME, 0, notify) == SUCCESS, "arm on a send-once name")?;
    check(mach_port_deallocate(task, once) == SUCCESS, "drop it")?;
    check(notification(notify, 0) == Some((MACH_NOTIFY_PORT_DELETED, once)), "port-deleted")?;
    let _ = notification(live, 0);
    // Errors.
    check(arm(live, 99, 0, notify) == KernReturn::KERN_INVALID_VALUE, "unknown id")?;
    check(
        arm(task, MACH_NOTIFY_NO_SENDERS, 0, notify) == KernReturn::KERN_INVALID_RIGHT,
        "no-senders needs receive",
    )?;
    let mut previous = 0;
    let kr = mach_port_request_notification(
        task,
        live,
        MACH_NOTIFY_DEAD_NAME,
        0,
        notify,
        MACH_MSG_TYPE_COPY_SEND,
        &mut previous,
    );
    check(kr == KernReturn::KERN_INVALID_VALUE, "notify must be send-once")?;
    check(arm(0x9999, MACH_NOTIFY_DEAD_NAME, 0, notify) == KernReturn::KERN_INVALID_NAME, "bad name")?;

    // A peer exits: no-senders for the port it held a send right to, dead-name for its port.
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => loop {
            crate::sched::sleep_ms(1000);
        },
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    check(
        mach_port_insert_right(t, CHOSEN_NAME, live, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS,
        "give the child a send right",
    )?;
    let mut theirs = 0;
    check(mach_port_allocate(t, MACH_PORT_RIGHT_RECEIVE, &mut theirs) == SUCCESS, "a port in the child")?;
    let mut to_child = 0;
    check(
        mach_port_extract_right(t, theirs, MACH_MSG_TYPE_MAKE_SEND, &mut to_child, &mut ty) == SUCCESS,
        "send right to it",
    )?;
    check(arm(live, MACH_NOTIFY_NO_SENDERS, 1, notify) == SUCCESS, "arm no-senders")?;
    check(arm(to_child, MACH_NOTIFY_DEAD_NAME, 0, notify) == SUCCESS, "arm dead-name")?;
    check(notification(notify, 0).is_none(), "nothing yet")?;
    let _ = libsys::signal::kill(child, sys::signal::SIGKILL);
    let _ = waitpid(child, 0);
    let a = notification(notify, 1000).ok_or("first notification")?;
    let b = notification(notify, 1000).ok_or("second notification")?;
    let want = [(MACH_NOTIFY_NO_SENDERS, 1), (MACH_NOTIFY_DEAD_NAME, to_child)];
    check(want.contains(&a) && want.contains(&b) && a != b, "no-senders (mscount 1) and dead-name")?;
    check(type_of(to_child) == MACH_PORT_TYPE_DEAD_NAME, "the child's port is a dead name")?;
    let _ = mach_port_mod_refs(task, to_child, MACH_PORT_RIGHT_DEAD_NAME, -2);
    let _ = mach_port_deallocate(task, t);
    for p in [live, notify] {
        drop_port(p);
    }
    let _ = other;
    Ok(())
}
