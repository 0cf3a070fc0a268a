//! Fileports (XNU's `fileport_makeport` and `fileport_makefd`, in `kern_descrip.c` and
//! `ipc_misc.c`): an open file description wrapped in a Mach port, so a descriptor can
//! travel to another task in a message like any send right and be turned back into a
//! descriptor there.
//!
//! The port is a kernel-object port of type `IKOT_FILEPORT` that owns its [`Fileport`]
//! (`IpcPort::new_kobject_owned`): the description stays open while any send right to the
//! port exists, anywhere, and is released when the last one goes — not when the maker
//! closes its descriptor. The port never receives messages.

use alloc::sync::Arc;

use mach::port::{MACH_PORT_TYPE_SEND, MachPortName};
use osfmk::ipc::ipc_port::{IkotType, IpcPort};
use osfmk::kern::ipc_kobject::KObject;
use osfmk::vm::user_ptr::{UserAddr, UserPtr};
use sys::Errno;

use crate::kern::kern_descrip::{DType, FP_CLOEXEC, FileGlob, FileProc};
use crate::kern::kern_proc::Proc;

/// What a fileport stands for: one reference to an open file description.
pub struct Fileport {
    fg: Arc<FileGlob>,
}

impl KObject for Fileport {
    const IKOT: IkotType = IkotType::Fileport;
}

/// May this kind of file be sent as a fileport? XNU allows vnodes, sockets, pipes (and POSIX
/// shared memory and net-policy files, which rxnu does not have); kqueues and the rest stay
/// with their process (`EINVAL`).
fn sendable(ty: DType) -> bool {
    matches!(ty, DType::Vnode | DType::Socket | DType::Pipe)
}

/// `fileport_makeport(fd, portnamep)`: a new fileport for the description open on `fd`, and
/// one send right to it entered in the caller's space under a name stored at `portnamep`.
/// `fd` stays open and independent. A bad descriptor: `EBADF`; a kind that may not travel:
/// `EINVAL`; no room for the name: `EAGAIN` (XNU's answer when the port cannot be made); a
/// bad `portnamep`: `EFAULT`, and the name is taken back, so nothing is left behind.
pub fn fileport_makeport(p: &Proc, fd: i32, portnamep: UserAddr) -> Result<(), Errno> {
    let out = UserPtr::<MachPortName>::new(portnamep.0)?;
    let fg = p.p_fd.lock().get(fd)?;
    if !sendable(fg.fg_ops.fo_type()) {
        return Err(Errno::EINVAL);
    }
    let port = IpcPort::new_kobject_owned(IkotType::Fileport, Arc::new(Fileport { fg }));
    let space = &p.task.itk_space;
    let name = space.copyout_send(port.make_send()).map_err(|_| Errno::EAGAIN)?;
    if let Err(fault) = out.write(&name) {
        // The only send right is the one just entered: releasing it destroys the port and
        // drops the description's reference.
        let _ = space.deallocate(name);
        return Err(fault.into());
    }
    Ok(())
}

/// The open file description fileport `port` (a send right in `p`'s space) stands for: not a
/// send right to a fileport, `EINVAL`. posix_spawn's fileport action installs it.
pub fn fileport_fileglob(p: &Proc, port: MachPortName) -> Result<Arc<FileGlob>, Errno> {
    let fileport =
        p.task.itk_space.lookup_kobject::<Fileport>(port, MACH_PORT_TYPE_SEND).map_err(|_| Errno::EINVAL)?;
    Ok(fileport.fg.clone())
}

/// `fileport_makefd(port)`: a new descriptor, the lowest free one, on the description that
/// fileport `port` (a send right in the caller's space, which stays there) stands for, with
/// close-on-exec set as XNU sets it. A name that is not a send right to a fileport: `EINVAL`;
/// a full table: `EMFILE`.
pub fn fileport_makefd(p: &Proc, port: MachPortName) -> Result<usize, Errno> {
    let fg = fileport_fileglob(p, port)?;
    p.p_fd.lock().alloc(FileProc { fp_flags: FP_CLOEXEC, fp_glob: fg })
}
