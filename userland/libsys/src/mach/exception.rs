//! Exception ports: setting and reading the handlers of a task, a thread or the host
//! (`*_set_exception_ports`, `*_get_exception_ports`).

use ::mach::defs::EXC_HANDLERS_MAX;
use ::mach::mig::Words;
use ::mach::{KernReturn, MachPortName};

use super::mig::{self, MigBuffer, PortDescriptors, status, with_reply};

/// The most handlers a `*_get_exception_ports` reply lists.
const HANDLERS_MAX: usize = EXC_HANDLERS_MAX as usize;

/// The handlers `*_get_exception_ports` reports (`masksCnt` entries of each array).
#[derive(Clone, Copy, Debug)]
pub struct ExceptionHandlers {
    pub count: u32,
    pub masks: [u32; HANDLERS_MAX],
    pub handlers: [MachPortName; HANDLERS_MAX],
    pub behaviors: [u32; HANDLERS_MAX],
    pub flavors: [u32; HANDLERS_MAX],
}

impl ExceptionHandlers {
    /// From a reply's handler ports and its three same-count arrays (masks, behaviors, flavors).
    fn fill(&mut self, handlers: &PortDescriptors<'_>, info: &Words<'_>) {
        let n = (info.len() / 3).min(HANDLERS_MAX);
        self.count = n as u32;
        for i in 0..n {
            self.handlers[i] = handlers.name(i);
            self.masks[i] = info.get(i);
            self.behaviors[i] = info.get(n + i);
            self.flavors[i] = info.get(2 * n + i);
        }
    }
}

/// `task_set_exception_ports(task, exception_mask, new_port, behavior, new_flavor)`.
pub fn task_set_exception_ports(
    task: MachPortName,
    mask: u32,
    port: MachPortName,
    behavior: u32,
    flavor: u32,
) -> KernReturn {
    status(mig::task_set_exception_ports(task, mask, (port, 0), behavior, flavor, &mut MigBuffer::new()))
}

/// `thread_set_exception_ports(thread, exception_mask, new_port, behavior, new_flavor)`.
pub fn thread_set_exception_ports(
    thread: MachPortName,
    mask: u32,
    port: MachPortName,
    behavior: u32,
    flavor: u32,
) -> KernReturn {
    status(mig::thread_set_exception_ports(thread, mask, (port, 0), behavior, flavor, &mut MigBuffer::new()))
}

/// `host_set_exception_ports(host_priv, mask, port, behavior, flavor)` (root only).
pub fn host_set_exception_ports(
    host: MachPortName,
    mask: u32,
    port: MachPortName,
    behavior: u32,
    flavor: u32,
) -> KernReturn {
    status(mig::host_set_exception_ports(host, mask, (port, 0), behavior, flavor, &mut MigBuffer::new()))
}

/// `task_get_exception_ports(task, mask, masks, &count, handlers, behaviors, flavors)`.
pub fn task_get_exception_ports(task: MachPortName, mask: u32, out: &mut ExceptionHandlers) -> KernReturn {
    with_reply(mig::task_get_exception_ports(task, mask, &mut MigBuffer::new()), |r| {
        out.fill(&r.handlers, &r.info)
    })
}

/// `thread_get_exception_ports(thread, mask, ...)`.
pub fn thread_get_exception_ports(
    thread: MachPortName,
    mask: u32,
    out: &mut ExceptionHandlers,
) -> KernReturn {
    with_reply(mig::thread_get_exception_ports(thread, mask, &mut MigBuffer::new()), |r| {
        out.fill(&r.handlers, &r.info)
    })
}

/// `host_get_exception_ports(host_priv, mask, ...)` (root only).
pub fn host_get_exception_ports(host: MachPortName, mask: u32, out: &mut ExceptionHandlers) -> KernReturn {
    with_reply(mig::host_get_exception_ports(host, mask, &mut MigBuffer::new()), |r| {
        out.fill(&r.handlers, &r.info)
    })
}
