//! Fileports (issue 15, B4 item 7): `fileport_makeport` wraps an open file description in a
//! Mach send right, `fileport_makefd` turns one back into a descriptor — in the same task or,
//! after the right has travelled in a message, in another. Expectations from XNU's
//! `sys_fileport_makeport` / `sys_fileport_makefd`: the new descriptor shares the description
//! (and its offset), has close-on-exec set, and the description outlives the maker's
//! descriptor for as long as a send right exists.

use libsys::mach::{
    MsgBuf, mach_port_deallocate, mach_port_insert_right, mach_port_type, task_get_special_port,
    task_set_special_port,
};
use libsys::mach_traps::mach_task_self;
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::{self, close, exit_process, fcntl, open_path, read_bytes, write_bytes};
use libsys::{Args, Errno};
use mach::KernReturn;
use mach::defs::special::TASK_BOOTSTRAP_PORT;
use mach::message::*;
use mach::port::*;
use sys::fcntl::*;
use sys::wait::{wexitstatus, wifexited};

use crate::ipc::{drop_port, new_port, simple};
use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("fileport_makeport / makefd: a shared description, close-on-exec, errors", same_task),
    ("a fileport carries an open file to another process in a Mach message", across_tasks),
];

fn makeport(fd: i32) -> Result<MachPortName, Errno> {
    let mut name: MachPortName = 0;
    // SAFETY: `name` is a valid, writable u32.
    unsafe { syscall::fileport_makeport(fd, core::ptr::from_mut(&mut name) as u64)? };
    Ok(name)
}

fn makefd(name: MachPortName) -> Result<i32, Errno> {
    syscall::fileport_makefd(name).map(|fd| fd as i32)
}

fn type_of(name: MachPortName) -> MachPortType {
    let mut ty = 0;
    if mach_port_type(mach_task_self(), name, &mut ty) == KernReturn::KERN_SUCCESS { ty } else { 0 }
}

/// A file holding `text`, open for reading at offset 0.
fn file_with(path: &[u8], text: &[u8]) -> Result<i32, &'static str> {
    let w = open_path(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644).map_err(|_| "create the file")?;
    check(write_bytes(w, text) == Ok(text.len() as u64), "write the file")?;
    let _ = close(w);
    open_path(path, O_RDONLY, 0).map_err(|_| "open the file")
}

fn read_one(fd: i32) -> Result<u8, &'static str> {
    let mut b = [0u8; 1];
    check(read_bytes(fd, &mut b) == Ok(1), "read one byte")?;
    Ok(b[0])
}

fn same_task(_: &Args) -> Result<(), &'static str> {
    let fd = file_with(b"/tmp/fileport-same\0", b"abcdef")?;
    let name = makeport(fd).map_err(|_| "fileport_makeport")?;
    check(type_of(name) == MACH_PORT_TYPE_SEND, "the name is one send right")?;
    let again = makefd(name).map_err(|_| "fileport_makefd")?;
    check(again != fd, "a new descriptor")?;
    check(fcntl(again, F_GETFD, 0) == Ok(FD_CLOEXEC as u64), "the new descriptor is close-on-exec")?;
    check(fcntl(fd, F_GETFD, 0) == Ok(0), "the maker's descriptor is unchanged")?;
    // One description: the offset moves for both.
    check(read_one(fd)? == b'a' && read_one(again)? == b'b' && read_one(fd)? == b'c', "a shared offset")?;
    check(type_of(name) == MACH_PORT_TYPE_SEND, "makefd leaves the send right")?;
    // The description lives while the port does, whatever the descriptors do.
    let _ = close(fd);
    let _ = close(again);
    let third = makefd(name).map_err(|_| "makefd after every descriptor closed")?;
    check(read_one(third)? == b'd', "the description and its offset survived")?;
    let _ = close(third);
    check(mach_port_deallocate(mach_task_self(), name) == KernReturn::KERN_SUCCESS, "deallocate")?;
    check(makefd(name) == Err(Errno::EINVAL), "a released name is EINVAL")?;
    // Errors: bad descriptors, bad names and ports that are not fileports, bad pointers.
    check(makeport(-1) == Err(Errno::EBADF), "makeport(-1)")?;
    check(makeport(250) == Err(Errno::EBADF), "makeport of a closed descriptor")?;
    check(makefd(MACH_PORT_NULL) == Err(Errno::EINVAL), "makefd(MACH_PORT_NULL)")?;
    check(makefd(0x4321_0103) == Err(Errno::EINVAL), "makefd of an unused name")?;
    check(makefd(mach_task_self()) == Err(Errno::EINVAL), "makefd of the task port")?;
    let plain = new_port()?;
    check(makefd(plain) == Err(Errno::EINVAL), "makefd of a receive right")?;
    drop_port(plain);
    let fd = file_with(b"/tmp/fileport-efault\0", b"x")?;
    for bad in [0, UNMAPPED_ADDRESS, KERNEL_ADDRESS, 0x1001] {
        // SAFETY: the kernel must refuse every one of these addresses; none is written by us.
        let r = unsafe { syscall::fileport_makeport(fd, bad) };
        check(r == Err(Errno::EFAULT), "makeport with a bad out pointer is EFAULT")?;
    }
    let _ = close(fd);
    Ok(())
}

/// The child's side: open a file of its own, wrap it in a fileport, send the right to the
/// port it inherited as its bootstrap port, close its descriptor and exit.
fn child_sends_file() -> i32 {
    let Ok(fd) = file_with(b"/tmp/fileport-child\0", b"from the child") else { return 1 };
    let Ok(name) = makeport(fd) else { return 2 };
    let _ = close(fd);
    let mut dest = MACH_PORT_NULL;
    if task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &mut dest) != KernReturn::KERN_SUCCESS {
        return 3;
    }
    let mut m = MsgBuf::new();
    m.set_header(&simple(dest, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX, 0, 77));
    m.put(24, &1u32.to_le_bytes());
    m.put(28, &port_descriptor(name, MACH_MSG_TYPE_MOVE_SEND));
    if m.send(40, 0, 0) != MACH_MSG_SUCCESS {
        return 4;
    }
    // The right went with the message: nothing of the file is left here.
    if type_of(name) != 0 {
        return 5;
    }
    0
}

fn across_tasks(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let mut saved = MACH_PORT_NULL;
    check(
        task_get_special_port(me, TASK_BOOTSTRAP_PORT, &mut saved) == KernReturn::KERN_SUCCESS,
        "get bootstrap",
    )?;
    let port = new_port()?;
    check(
        mach_port_insert_right(me, port, port, MACH_MSG_TYPE_MAKE_SEND) == KernReturn::KERN_SUCCESS,
        "send right",
    )?;
    // The child inherits its bootstrap port from us: that is how it finds `port`.
    check(task_set_special_port(me, TASK_BOOTSTRAP_PORT, port) == KernReturn::KERN_SUCCESS, "set bootstrap")?;
    let forked = fork();
    let restored = task_set_special_port(me, TASK_BOOTSTRAP_PORT, saved);
    let child = match forked.map_err(|_| "fork")? {
        Forked::Child => exit_process(child_sends_file()),
        Forked::Parent(pid) => pid,
    };
    check(restored == KernReturn::KERN_SUCCESS, "restore the bootstrap port")?;
    let mut got = MsgBuf::new();
    let mr = got.receive(port, MACH_RCV_TIMEOUT, 5000);
    let status = waitpid(child, 0).map(|(_, s)| s);
    check(mr == MACH_MSG_SUCCESS, "the child's message arrived")?;
    check(matches!(status, Ok(s) if wifexited(s) && wexitstatus(s) == 0), "the child sent the fileport")?;
    check(got.header().msgh_id == 77 && got.word(24) == 1, "one descriptor")?;
    let name = got.word(28);
    check(u32::from(got.0[38]) == MACH_MSG_TYPE_PORT_SEND, "a send right arrived")?;
    // The child is gone with its descriptor; the file it opened is open here now.
    let fd = makefd(name).map_err(|_| "fileport_makefd of the received right")?;
    let mut buf = [0u8; 32];
    let n = read_bytes(fd, &mut buf).map_err(|_| "read through the received descriptor")?;
    check(&buf[..n as usize] == b"from the child", "the child's file, from its start")?;
    let _ = close(fd);
    let _ = mach_port_deallocate(me, name);
    let _ = mach_port_deallocate(me, port);
    drop_port(port);
    Ok(())
}
