//! Exception ports: a handler in another task repairs or refuses a fault, a host-level
//! handler steps over a breakpoint, and a state-identity handler gets and returns the state.

use super::*;

/// A page the `exception_handler` children fault on (the same address in parent and child).
#[repr(C, align(4096))]
struct Page([u8; 4096]);
static mut FAULT_PAGE: Page = Page([0; 4096]);

fn fault_page() -> u64 {
    core::ptr::addr_of!(FAULT_PAGE) as u64
}

/// The handler's answer to exception message `h` of `routine`: a reply to its send-once
/// reply right carrying `code` (state replies append their new state after byte 36).
fn exception_reply(h: &MachMsgHeader, routine: &mach::mig::Routine, code: KernReturn) -> MsgBuf {
    let mut r = MsgBuf::new();
    let id = routine.id + mach::mig::MIG_REPLY_ID_OFFSET;
    r.set_header(&simple(h.msgh_remote_port, mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), 0, id));
    r.put(24, &mach::mig::NDR_RECORD);
    r.put(32, &code.0.to_le_bytes());
    r
}

/// Child of `exception_handler`: make the page read-only, wait for the go, write to it.
fn faulting_child() -> i32 {
    if mach_vm_protect(mach_task_self(), fault_page(), 4096, false, VmProt::READ.0) != SUCCESS {
        return 30;
    }
    for _ in 0..5000 {
        if read_mailbox(1) == 0xfeed {
            // SAFETY: our own static page; the write faults until the handler repairs it.
            unsafe { core::ptr::write_volatile(fault_page() as *mut u8, 43) };
            // SAFETY: as above.
            let v = unsafe { core::ptr::read_volatile(fault_page() as *const u8) };
            return if v == 43 { 0 } else { 31 };
        }
        crate::sched::sleep_ms(1);
    }
    32
}

/// Run a faulting child whose task exception port is ours; answer its exception with
/// `verdict` (repairing the page first if it is success). Returns the child's wait status.
fn handle_one_fault(verdict: KernReturn) -> Result<i32, &'static str> {
    let me = mach_task_self();
    let exc = new_port()?;
    check(mach_port_insert_right(me, exc, exc, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send right")?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(faulting_child()),
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    let behavior = EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES;
    check(
        task_set_exception_ports(t, 1 << EXC_BAD_ACCESS, exc, behavior, 0) == SUCCESS,
        "set exception port",
    )?;
    check(
        task_set_exception_ports(t, 1 << 20, exc, behavior, 0) == KernReturn::KERN_INVALID_ARGUMENT,
        "bad mask",
    )?;
    check(
        task_set_exception_ports(t, 1 << EXC_BAD_ACCESS, exc, 9, 0) == KernReturn::KERN_INVALID_ARGUMENT,
        "bad behavior",
    )?;
    let go = 0xfeedu64.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, go.as_ptr() as u64, 8) == SUCCESS, "go")?;
    let mut msg = MsgBuf::new();
    check(msg.receive(exc, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS, "exception message")?;
    let h = msg.header();
    check(
        h.msgh_id == mach::defs::MACH_EXCEPTION_RAISE.id
            && h.msgh_bits & MACH_MSGH_BITS_COMPLEX != 0
            && h.msgh_size == 84,
        "mach_exception_raise",
    )?;
    let (thread, task) = (msg.word(28), msg.word(40));
    check(msg.word(60) == EXC_BAD_ACCESS && msg.word(64) == 2, "EXC_BAD_ACCESS with two codes")?;
    check(msg.long(68) == 2 && msg.long(76) == fault_page(), "KERN_PROTECTION_FAILURE at the page")?;
    // The generated decoder of the same declaration reads the same values by name.
    let req = libsys::mach::mig::mach_exception_raise::Request::decode(true, &msg.0[24..84])
        .map_err(|_| "typed mach_exception_raise request")?;
    check(
        (req.thread.name, req.task.name, req.exception) == (thread, task, EXC_BAD_ACCESS)
            && req.code.len() == 4
            && (req.code.get(0), req.code.get(2)) == (2, fault_page() as u32),
        "typed request: thread, task, exception and codes by name",
    )?;
    let mut info = [0u32; 10];
    let mut c = 10;
    check(
        thread_info(thread, THREAD_BASIC_INFO, &mut info, &mut c) == SUCCESS,
        "the faulting thread's port works",
    )?;
    if verdict == SUCCESS {
        check(mach_vm_protect(task, fault_page(), 4096, false, VmProt::DEFAULT.0) == SUCCESS, "repair")?;
    }
    let mut r = exception_reply(&h, &mach::defs::MACH_EXCEPTION_RAISE, verdict);
    check(r.send(36, 0, 0) == MACH_MSG_SUCCESS, "reply")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    for n in [thread, task, t] {
        let _ = mach_port_deallocate(me, n);
    }
    let _ = mach_port_mod_refs(me, exc, MACH_PORT_RIGHT_SEND, -1);
    drop_port(exc);
    Ok(status)
}

pub(super) fn exception_handler(_: &Args) -> Result<(), &'static str> {
    check(handle_one_fault(SUCCESS)? == 0, "repaired: the child's write went through")?;
    let status = handle_one_fault(KernReturn::KERN_FAILURE)?;
    check(status & 0x7f == sys::signal::SIGBUS as i32, "refused: BSD turns it into SIGBUS")?;
    Ok(())
}

/// Child of `host_handler`: hit a breakpoint; the host-level handler steps over it.
fn breakpoint_child() -> i32 {
    // SAFETY: `brk` traps to the kernel; the handler moves the pc past it.
    unsafe { core::arch::asm!("brk #0x1", options(nomem, nostack)) };
    0
}

pub(super) fn host_handler(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let host = mach_host_self();
    let exc = new_port()?;
    check(mach_port_insert_right(me, exc, exc, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send right")?;
    let behavior = EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES;
    check(host_set_exception_ports(host, 1 << EXC_BREAKPOINT, exc, behavior, 0) == SUCCESS, "set host port")?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(breakpoint_child()),
        Forked::Parent(pid) => pid,
    };
    let mut msg = MsgBuf::new();
    check(msg.receive(exc, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS, "exception at the host level")?;
    let h = msg.header();
    check(
        h.msgh_id == mach::defs::MACH_EXCEPTION_RAISE.id && msg.word(60) == EXC_BREAKPOINT,
        "EXC_BREAKPOINT",
    )?;
    // Step over the brk: pc + 4 in the faulting thread's state.
    let thread = msg.word(28);
    let mut state = [0u32; 68];
    let mut count = 68;
    check(thread_get_state(thread, ARM_THREAD_STATE64, &mut state, &mut count) == SUCCESS, "get state")?;
    let pc = u64::from(state[ARM_THREAD_STATE64_PC]) | (u64::from(state[ARM_THREAD_STATE64_PC + 1]) << 32);
    check(pc == msg.long(76), "the subcode is the pc")?;
    let next = pc + 4;
    state[ARM_THREAD_STATE64_PC] = next as u32;
    state[ARM_THREAD_STATE64_PC + 1] = (next >> 32) as u32;
    check(thread_set_state(thread, ARM_THREAD_STATE64, &state) == SUCCESS, "set state")?;
    let mut r = exception_reply(&h, &mach::defs::MACH_EXCEPTION_RAISE, SUCCESS);
    check(r.send(36, 0, 0) == MACH_MSG_SUCCESS, "reply")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "the child ran on past its breakpoint")?;
    check(host_set_exception_ports(host, 1 << EXC_BREAKPOINT, 0, behavior, 0) == SUCCESS, "clear")?;
    // Only root may set the host's ports.
    let status = crate::proc::in_child(|| {
        let _ = libsys::syscall::setuid(501);
        let kr = host_set_exception_ports(mach_host_self(), 1 << EXC_BREAKPOINT, 0, behavior, 0);
        i32::from(kr != KernReturn::KERN_INVALID_ARGUMENT)
    })?;
    check(status == 0, "non-root refused")?;
    let _ = mach_port_deallocate(me, thread);
    let _ = mach_port_mod_refs(me, exc, MACH_PORT_RIGHT_SEND, -1);
    drop_port(exc);
    Ok(())
}

pub(super) fn state_handler(_: &Args) -> Result<(), &'static str> {
    use mach::exception::EXCEPTION_STATE_IDENTITY;
    let me = mach_task_self();
    let exc = new_port()?;
    check(mach_port_insert_right(me, exc, exc, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send right")?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // Wait for the parent's go (through our mailbox), then hit the breakpoint.
            for _ in 0..5000 {
                if read_mailbox(1) == 0xfeed {
                    exit_process(breakpoint_child());
                }
                crate::sched::sleep_ms(1);
            }
            exit_process(9)
        }
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    let behavior = EXCEPTION_STATE_IDENTITY | MACH_EXCEPTION_CODES;
    check(
        task_set_exception_ports(t, 1 << EXC_BREAKPOINT, exc, behavior, 99)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "flavor",
    )?;
    check(
        task_set_exception_ports(t, 1 << EXC_BREAKPOINT, exc, behavior, ARM_THREAD_STATE64) == SUCCESS,
        "set",
    )?;
    let go = 0xfeedu64.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, go.as_ptr() as u64, 8) == SUCCESS, "go")?;
    let mut msg = MsgBuf::new();
    check(msg.receive(exc, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS, "exception")?;
    let h = msg.header();
    check(
        h.msgh_id == mach::defs::MACH_EXCEPTION_RAISE_STATE_IDENTITY.id && h.msgh_size == 364,
        "mach_exception_raise_state_identity",
    )?;
    check(msg.word(60) == EXC_BREAKPOINT && msg.word(84) == 6 && msg.word(88) == 68, "state in the message")?;
    // The state's pc (words 64, 65) is the subcode; answer with pc + 4.
    let pc = msg.long(92 + ARM_THREAD_STATE64_PC * 4);
    check(pc == msg.long(76), "pc matches the subcode")?;
    let mut r = exception_reply(&h, &mach::defs::MACH_EXCEPTION_RAISE_STATE_IDENTITY, SUCCESS);
    r.put(36, &6u32.to_le_bytes());
    r.put(40, &68u32.to_le_bytes());
    let mut state = [0u8; 272];
    state.copy_from_slice(&msg.0[92..92 + 272]);
    r.put(44, &state);
    r.put(44 + ARM_THREAD_STATE64_PC * 4, &(pc + 4).to_le_bytes());
    check(r.send(44 + 272, 0, 0) == MACH_MSG_SUCCESS, "reply with the new state")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "the child went on from the new pc")?;
    for n in [msg.word(28), msg.word(40), t] {
        let _ = mach_port_deallocate(me, n);
    }
    let _ = mach_port_mod_refs(me, exc, MACH_PORT_RIGHT_SEND, -1);
    drop_port(exc);
    Ok(())
}
