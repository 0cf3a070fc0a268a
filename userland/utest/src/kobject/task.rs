//! Tasks and threads through their ports: our own task's and thread's information and
//! state, another task's memory, threads and space through its task port, and termination.

use super::*;

pub(super) fn own_objects(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let mut info = [0u32; 32];
    let mut count = 12;
    check(task_info(task, MACH_TASK_BASIC_INFO, &mut info, &mut count) == SUCCESS, "task_info basic")?;
    let vsize = u64::from(info[0]) | (u64::from(info[1]) << 32);
    let resident = u64::from(info[2]) | (u64::from(info[3]) << 32);
    check(count == 12 && vsize >= resident && resident > 0, "sizes")?;
    check(info[10] == 1 && info[11] == 0, "policy timeshare, not suspended")?;
    let mut count = 8;
    check(task_info(task, TASK_AUDIT_TOKEN, &mut info, &mut count) == SUCCESS, "audit token")?;
    check(info[5] == pid() && info[1] == 0, "audit token pid and euid")?;
    let mut count = 4;
    check(task_info(task, MACH_TASK_BASIC_INFO, &mut info, &mut count) != SUCCESS, "short count refused")?;
    let mut count = 32;
    check(task_info(task, 9999, &mut info, &mut count) == KernReturn::KERN_INVALID_ARGUMENT, "bad flavor")?;

    let (mut threads, mut n) = (0u64, 0u32);
    check(task_threads(task, &mut threads, &mut n) == SUCCESS && n == 1, "task_threads: one thread")?;
    // SAFETY: the kernel mapped an array of `n` names at `threads` for us.
    let first = unsafe { *(threads as *const MachPortName) };
    check(first == mach_thread_self(), "the thread port name we already hold")?;
    let _ = mach_vm_deallocate(task, threads, 4 * u64::from(n));
    let _ = mach_port_deallocate(task, first);

    let me = mach_thread_self();
    let mut count = 10;
    check(thread_info(me, THREAD_BASIC_INFO, &mut info, &mut count) == SUCCESS, "thread_info")?;
    check(count == 10 && info[5] == 1 && info[6] == 1 && info[8] == 0, "policy, run state, suspend count")?;
    let mut state = [0u32; 68];
    let mut count = 68;
    check(thread_get_state(me, ARM_THREAD_STATE64, &mut state, &mut count) == SUCCESS, "get_state")?;
    // We are inside mach_msg: x16 holds its trap number (-31).
    let x16 = u64::from(state[32]) | (u64::from(state[33]) << 32);
    check(count == 68 && x16 as i64 == -31, "x16 is the mach_msg trap")?;
    let mut count = 10;
    check(
        thread_get_state(me, 99, &mut state, &mut count) == KernReturn::KERN_INVALID_ARGUMENT,
        "bad flavor",
    )?;
    // A task routine sent to a thread port finds no task.
    let mut count = 12;
    check(
        task_info(me, MACH_TASK_BASIC_INFO, &mut info, &mut count) == KernReturn::KERN_INVALID_ARGUMENT,
        "wrong object",
    )?;
    let _ = mach_port_deallocate(task, me);
    Ok(())
}

fn remote_child() -> i32 {
    // Wait for the parent to write the mailbox, then send to the name it gave us.
    for _ in 0..5000 {
        if read_mailbox(1) == 0xfeed {
            let mut buf = MsgBuf::new();
            buf.set_header(&simple(CHOSEN_NAME, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 77));
            return if buf.send(24, 0, 0) == MACH_MSG_SUCCESS { 0 } else { 21 };
        }
        crate::sched::sleep_ms(1);
    }
    20
}

pub(super) fn remote_task_control(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(remote_child()),
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    check(type_of(t) == MACH_PORT_TYPE_SEND, "task_for_pid(child)")?;
    // Read its memory, then write it.
    let (mut data, mut n) = (0u64, 0u32);
    check(mach_vm_read(t, mailbox_addr(), 16, &mut data, &mut n) == SUCCESS && n == 16, "mach_vm_read")?;
    // SAFETY: the kernel mapped 16 bytes at `data` for us.
    check(unsafe { *(data as *const u64) } == 0x1111, "the child's value")?;
    let _ = mach_vm_deallocate(me, data, 16);
    check(mach_vm_read(t, 0x10, 16, &mut data, &mut n) == KernReturn::KERN_INVALID_ADDRESS, "read a hole")?;
    // Its threads, its regions, its space.
    let (mut threads, mut count) = (0u64, 0u32);
    check(task_threads(t, &mut threads, &mut count) == SUCCESS && count == 1, "child has one thread")?;
    // SAFETY: the kernel mapped `count` names at `threads`.
    let thread = unsafe { *(threads as *const u32) };
    let mut info = [0u32; 10];
    let mut c = 10;
    check(thread_info(thread, THREAD_BASIC_INFO, &mut info, &mut c) == SUCCESS, "child thread_info")?;
    check(task_suspend(t) == SUCCESS && task_resume(t) == SUCCESS, "suspend / resume")?;
    check(task_resume(t) == KernReturn::KERN_FAILURE, "resume of a running task")?;
    let (mut addr, mut size, mut obj) = (mailbox_addr(), 0u64, 0);
    let mut rinfo = [0u32; 10];
    let mut rc = 9;
    let kr = mach_vm_region(t, &mut addr, &mut size, VM_REGION_BASIC_INFO_64, &mut rinfo, &mut rc, &mut obj);
    check(kr == SUCCESS && addr <= mailbox_addr() && addr + size > mailbox_addr(), "region of the mailbox")?;
    check(rinfo[0] as i32 & VmProt::WRITE.0 != 0, "writable")?;
    let mut page = 0u64;
    check(
        mach_vm_allocate(t, &mut page, 4096, VM_FLAGS_ANYWHERE) == SUCCESS && page != 0,
        "allocate in child",
    )?;
    check(mach_vm_protect(t, page, 4096, false, VmProt::READ.0) == SUCCESS, "protect in child")?;
    let word = [0xabu8; 8];
    check(
        mach_vm_write(t, page, word.as_ptr() as u64, 8) == KernReturn::KERN_INVALID_ADDRESS,
        "write read-only",
    )?;
    check(mach_vm_deallocate(t, page, 4096) == SUCCESS, "deallocate in child")?;
    let mut name = 0;
    check(
        mach_port_allocate(t, MACH_PORT_RIGHT_RECEIVE, &mut name) == SUCCESS,
        "allocate a port in the child",
    )?;
    // Give the child a send right to our port under a name of our choosing, then tell it.
    let port = new_port()?;
    check(
        mach_port_insert_right(t, CHOSEN_NAME, port, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS,
        "insert in child",
    )?;
    let mut ty = 0;
    let kr = mach_port_type(t, CHOSEN_NAME, &mut ty);
    check(kr == SUCCESS && ty == MACH_PORT_TYPE_SEND, "child holds it")?;
    let value = 0xfeedu64.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, value.as_ptr() as u64, 8) == SUCCESS, "mach_vm_write")?;
    let mut got = MsgBuf::new();
    check(
        got.receive(port, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS && got.header().msgh_id == 77,
        "child sent",
    )?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "child exit status")?;
    // The task is gone: its port is dead.
    let mut count = 12;
    let kr = task_info(t, MACH_TASK_BASIC_INFO, &mut [0u32; 12], &mut count);
    check(kr.0 == MACH_SEND_INVALID_DEST, "task_info on a dead task")?;
    for n in [t, thread] {
        let _ = mach_port_deallocate(me, n);
    }
    let _ = mach_vm_deallocate(me, threads, 4);
    drop_port(port);
    Ok(())
}

/// A thread that sleeps until its task ends.
extern "C" fn spinner(_: u64) {
    loop {
        crate::sched::sleep_ms(1);
    }
}

/// How many threads `task` has.
fn thread_count(task: MachPortName) -> u32 {
    let (mut list, mut n) = (0u64, 0u32);
    if task_threads(task, &mut list, &mut n) != SUCCESS {
        return 0;
    }
    for i in 0..n {
        // SAFETY: the kernel mapped `n` names at `list`.
        let _ = mach_port_deallocate(mach_task_self(), unsafe { *(list as *const u32).add(i as usize) });
    }
    let _ = mach_vm_deallocate(mach_task_self(), list, 4 * u64::from(n));
    n
}

pub(super) fn terminate(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    // thread_terminate: a thread of ours that would spin forever ends.
    let before = thread_count(me);
    crate::sched::spawn(3, spinner, 0)?;
    let mut tries = 0;
    while thread_count(me) <= before && tries < 1000 {
        crate::sched::sleep_ms(1);
        tries += 1;
    }
    let (mut list, mut n) = (0u64, 0u32);
    check(task_threads(me, &mut list, &mut n) == SUCCESS && n == before + 1, "one more thread")?;
    // Threads are listed oldest first: the spinner is the last.
    // SAFETY: `n` names at `list`.
    let other = unsafe { *(list as *const u32).add(n as usize - 1) };
    check(other != mach_thread_self(), "not ourselves")?;
    check(thread_terminate(other) == SUCCESS, "thread_terminate")?;
    let mut tries = 0;
    while thread_count(me) != before && tries < 1000 {
        crate::sched::sleep_ms(1);
        tries += 1;
    }
    check(thread_count(me) == before, "the thread is gone")?;
    let mut info = [0u32; 10];
    let mut c = 10;
    let kr = thread_info(other, THREAD_BASIC_INFO, &mut info, &mut c);
    check(kr != SUCCESS || info[6] == 5, "a terminated thread is halted or gone")?;
    for i in 0..n {
        // SAFETY: as above.
        let _ = mach_port_deallocate(me, unsafe { *(list as *const u32).add(i as usize) });
    }
    let _ = mach_vm_deallocate(me, list, 4 * u64::from(n));
    // task_terminate: a child killed through its task port, as by SIGKILL.
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => loop {
            crate::sched::sleep_ms(1000);
        },
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    check(task_terminate(t) == SUCCESS, "task_terminate")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status & 0x7f == sys::signal::SIGKILL as i32, "killed")?;
    check(task_terminate(t).0 == MACH_SEND_INVALID_DEST, "a dead task's port")?;
    let _ = mach_port_deallocate(me, t);
    Ok(())
}
