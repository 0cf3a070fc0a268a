//! The host: `mach_host_self` and the `mach_host` routines (information, statistics, the
//! processors).

use ::mach::{KernReturn, MachPortName};

use super::mig::{self, MigBuffer, with_reply, words_out};
use crate::mach_traps as traps;

/// `mach_host_self()`.
pub fn mach_host_self() -> MachPortName {
    traps::host_self_trap()
}

/// `host_info(host, flavor, info, &count)`.
pub fn host_info(host: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    with_reply(mig::host_info(host, flavor, *count, &mut MigBuffer::new()), |out| {
        words_out(&out.host_info_out, info, count)
    })
}

/// `host_statistics(host, flavor, info, &count)`.
pub fn host_statistics(host: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    with_reply(mig::host_statistics(host, flavor, *count, &mut MigBuffer::new()), |out| {
        words_out(&out.host_info_out, info, count)
    })
}

/// `host_processor_info(host, flavor, &out_processor_count, &out_processor_info,
/// &out_processor_infoCnt)`: the number of processors and their info, an array of
/// `out_processor_infoCnt` words new in our address space (free it with `mach_vm_deallocate`).
pub fn host_processor_info(
    host: MachPortName,
    flavor: u32,
    processor_count: &mut u32,
    info: &mut u64,
    info_cnt: &mut u32,
) -> KernReturn {
    with_reply(mig::host_processor_info(host, flavor, &mut MigBuffer::new()), |out| {
        *processor_count = out.out_processor_count;
        (*info, *info_cnt) = (out.out_processor_info.address, out.out_processor_info.size / 4);
    })
}
