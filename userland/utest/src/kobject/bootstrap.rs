//! Two tasks meeting: through the inherited bootstrap special port (rights, OOL memory and
//! an RPC reply between them), and by name through init's bootstrap server.

use super::*;

/// The child side of `two_tasks`: find the parent through the inherited bootstrap port, send
/// it rights and memory, and check its reply. Returns the exit status.
fn two_tasks_child(data: &[u8]) -> i32 {
    let task = mach_task_self();
    let mut boot = 0;
    if task_get_bootstrap_port(task, &mut boot) != SUCCESS || type_of(boot) != MACH_PORT_TYPE_SEND {
        return 10;
    }
    let Ok(mine) = new_port() else { return 11 };
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX;
    buf.set_header(&simple(boot, bits, reply, 4242));
    buf.put(24, &2u32.to_le_bytes());
    buf.put(28, &port_descriptor(mine, MACH_MSG_TYPE_MAKE_SEND));
    buf.put(40, &ool_descriptor(data.as_ptr() as u64, data.len() as u32, false, MACH_MSG_VIRTUAL_COPY));
    if buf.send(56, 0, 0) != MACH_MSG_SUCCESS {
        return 12;
    }
    let mut got = MsgBuf::new();
    if got.receive(reply, MACH_RCV_TIMEOUT, 5000) != MACH_MSG_SUCCESS || got.header().msgh_id != 4342 {
        return 13;
    }
    // The parent wrote into its copy; ours is unchanged.
    if data.iter().any(|&b| b != 0x77) {
        return 14;
    }
    0
}

pub(super) fn two_tasks(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let port = new_port()?;
    check(mach_port_insert_right(task, port, port, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "make a send right")?;
    check(task_set_special_port(task, TASK_BOOTSTRAP_PORT, port) == SUCCESS, "set bootstrap")?;
    let mut back = 0;
    check(task_get_bootstrap_port(task, &mut back) == SUCCESS && back == port, "get bootstrap")?;
    let _ = mach_port_deallocate(task, back);
    let data = [0x77u8; 3 * 4096 + 5];
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(two_tasks_child(&data)),
        Forked::Parent(pid) => pid,
    };
    let mut got = MsgBuf::new();
    let option = mach_rcv_trailer_elements(MACH_RCV_TRAILER_AUDIT);
    check(got.receive(port, MACH_RCV_TIMEOUT | option, 5000) == MACH_MSG_SUCCESS, "child's message")?;
    let h = got.header();
    check(h.msgh_id == 4242 && h.msgh_size == 56, "id and size")?;
    check(got.word(56 + MACH_MSG_TRAILER_AUDIT_OFFSET + 4 * AUDIT_TOKEN_PID) == child as u32, "sender pid")?;
    let child_port = got.word(28);
    check(type_of(child_port) == MACH_PORT_TYPE_SEND, "a send right to the child's port")?;
    let at = u64::from(got.word(40)) | (u64::from(got.word(44)) << 32);
    check(got.word(52) as usize == data.len(), "OOL size")?;
    // SAFETY: the kernel mapped the OOL data for us.
    let ool = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, data.len()) };
    check(ool.iter().all(|&b| b == 0x77), "OOL contents")?;
    ool.fill(0x11);
    let mut r = MsgBuf::new();
    r.set_header(&simple(h.msgh_remote_port, mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), 0, 4342));
    check(r.send(24, 0, 0) == MACH_MSG_SUCCESS, "reply")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "child saw the reply and its own memory unchanged")?;
    // The child is gone, and with it its port: our send right is a dead name now.
    check(type_of(child_port) == MACH_PORT_TYPE_DEAD_NAME, "dead name after the child exits")?;
    let _ = mach_port_deallocate(task, child_port);
    let _ = mach_vm_deallocate(task, at, data.len() as u64);
    check(task_set_special_port(task, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL) == SUCCESS, "clear bootstrap")?;
    let _ = mach_port_mod_refs(task, port, MACH_PORT_RIGHT_SEND, -1);
    drop_port(port);
    Ok(())
}

const SERVICE: &[u8] = b"org.rxnu.test.echo";

/// The registering child: publish a port under SERVICE, answer one request, exit.
fn service_child() -> i32 {
    use libsys::bootstrap::{bootstrap_port, bootstrap_register};
    let Ok(port) = new_port() else { return 40 };
    if mach_port_insert_right(mach_task_self(), port, port, MACH_MSG_TYPE_MAKE_SEND) != SUCCESS {
        return 41;
    }
    if bootstrap_register(bootstrap_port(), SERVICE, port) != SUCCESS {
        return 42;
    }
    let mut buf = MsgBuf::new();
    if buf.receive(port, MACH_RCV_TIMEOUT, 5000) != MACH_MSG_SUCCESS {
        return 43;
    }
    let h = buf.header();
    buf.set_header(&simple(
        h.msgh_remote_port,
        mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
        0,
        h.msgh_id + 100,
    ));
    if buf.send(32, 0, 0) != MACH_MSG_SUCCESS { 44 } else { 0 }
}

/// The looking-up child: find SERVICE (waiting for it to appear), call it once.
fn client_child() -> i32 {
    use libsys::bootstrap::{bootstrap_look_up, bootstrap_port};
    let mut service = 0;
    let mut tries = 0;
    while bootstrap_look_up(bootstrap_port(), SERVICE, &mut service) != SUCCESS {
        tries += 1;
        if tries > 5000 {
            return 50;
        }
        crate::sched::sleep_ms(1);
    }
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    buf.set_header(&simple(service, bits, reply, 321));
    buf.put(24, b"ping....");
    if buf.call(32, reply) != MACH_MSG_SUCCESS || buf.header().msgh_id != 421 || &buf.0[24..32] != b"ping...."
    {
        return 51;
    }
    0
}

pub(super) fn bootstrap_rendezvous(_: &Args) -> Result<(), &'static str> {
    use libsys::bootstrap::{bootstrap_look_up, bootstrap_register, bootstrap_start_server};
    use mach::defs::bootstrap::{BOOTSTRAP_NAME_IN_USE, BOOTSTRAP_UNKNOWN_SERVICE};
    // We are init here: we serve the bootstrap port our children inherit.
    let bp = bootstrap_start_server().map_err(|_| "start the bootstrap server")?;
    let mut got = 0;
    check(
        bootstrap_look_up(bp, b"no.such.service", &mut got).0 == BOOTSTRAP_UNKNOWN_SERVICE,
        "unknown name",
    )?;
    // Two unrelated processes (siblings) meet by name.
    let server = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(service_child()),
        Forked::Parent(pid) => pid,
    };
    let client = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(client_child()),
        Forked::Parent(pid) => pid,
    };
    let (_, s1) = waitpid(client, 0).map_err(|_| "waitpid")?;
    let (_, s2) = waitpid(server, 0).map_err(|_| "waitpid")?;
    check(s1 == 0 && s2 == 0, "client found the service and got its answer")?;
    // The service's port died with its task: the name is free again.
    let mine = new_port()?;
    check(mach_port_insert_right(mach_task_self(), mine, mine, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send")?;
    check(bootstrap_register(bp, SERVICE, mine) == SUCCESS, "name free after the service died")?;
    check(bootstrap_register(bp, SERVICE, mine).0 == BOOTSTRAP_NAME_IN_USE, "name in use")?;
    check(bootstrap_look_up(bp, SERVICE, &mut got) == SUCCESS && got == mine, "look up our own service")?;
    let long = [b'x'; 200];
    check(bootstrap_register(bp, &long, mine).0 == mach::mig::MIG_ARRAY_TOO_LARGE.0, "name too long")?;
    Ok(())
}
