//! The host: the kernel object standing for the machine (`host_self_trap`).

use alloc::sync::Arc;

use crate::ipc::ipc_port::{IkotType, PortRef};
use crate::kern::ipc_kobject::{KObject, ipc_kobject_alloc_port};

/// The host object. It has no state of its own: its MIG routines (`host_info`,
/// `host_statistics`, `host_processor_info`, in `mig_servers`) report the page pool and the
/// processors (`kern::processor`).
pub struct Host;

impl KObject for Host {
    const IKOT: IkotType = IkotType::Host;
}

static HOST: spin::Once<(Arc<Host>, PortRef)> = spin::Once::new();

/// The host port (created on first use; it lives as long as the kernel).
pub fn host_port() -> PortRef {
    HOST.call_once(|| {
        let host = Arc::new(Host);
        let port = ipc_kobject_alloc_port(&host);
        (host, port)
    })
    .1
    .clone()
}
