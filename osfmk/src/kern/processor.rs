//! Processors as the host reports them (XNU's `processor.c` and `machine_info`): how many CPUs
//! the machine has and how many are up, and each one's load — the time its user threads,
//! kernel threads and idle thread spent on it, in the 10 ms ticks of `processor_cpu_load_info`.
//! The time itself is charged by the scheduler into each CPU's block (`sched_prim::account`).

use alloc::vec::Vec;

use mach::info::{CPU_LOAD_TICK_NS, CPU_STATE_IDLE, CPU_STATE_MAX, CPU_STATE_SYSTEM, CPU_STATE_USER};

use crate::arm64::cpu_data::{self, CpuData, CpuTime};
use crate::kern::clock::nanoseconds_to_absolutetime;

/// The CPUs the machine has: every one the device tree lists (XNU's `max_cpus`; `hw.ncpu`).
pub fn max_cpus() -> u32 {
    cpu_data::cpu_count() as u32
}

/// The CPUs that are up (XNU's `avail_cpus`; `hw.activecpu`). Each is its own core, with one
/// hardware thread, so these are also the physical and logical counts.
pub fn avail_cpus() -> u32 {
    cpu_data::cpus_online() as u32
}

/// `time` (absolute-time units) in ticks of `tick` units, truncated to 32 bits as the
/// interface has it: the counters wrap.
pub fn time_to_load_ticks(time: u64, tick: u64) -> u32 {
    (time / tick.max(1)) as u32
}

/// One CPU's `{user, system, idle, nice}` ticks, given the length of a tick in absolute time.
fn cpu_load_ticks(cpu: &CpuData, tick: u64) -> [u32; CPU_STATE_MAX] {
    let mut ticks = [0; CPU_STATE_MAX];
    ticks[CPU_STATE_USER] = time_to_load_ticks(cpu.time_spent(CpuTime::User), tick);
    ticks[CPU_STATE_SYSTEM] = time_to_load_ticks(cpu.time_spent(CpuTime::System), tick);
    ticks[CPU_STATE_IDLE] = time_to_load_ticks(cpu.time_spent(CpuTime::Idle), tick);
    ticks
}

/// The processors `host_processor_info` reports, in order: the CPUs that are up (a listed CPU
/// that never started has no processor running, and no load to show).
fn processors() -> impl Iterator<Item = &'static CpuData> {
    cpu_data::all_cpus().iter().filter(|c| c.is_online())
}

/// `host_processor_info(PROCESSOR_CPU_LOAD_INFO)`: each processor's four counters, one after
/// the other.
pub fn processor_cpu_load_info() -> Vec<u32> {
    let tick = nanoseconds_to_absolutetime(CPU_LOAD_TICK_NS);
    processors().flat_map(|c| cpu_load_ticks(c, tick)).collect()
}

/// `host_statistics(HOST_CPU_LOAD_INFO)`: the counters summed over every processor (each
/// truncated first, as XNU sums them, so the sums wrap as the counters do).
pub fn host_cpu_load_info() -> [u32; CPU_STATE_MAX] {
    let tick = nanoseconds_to_absolutetime(CPU_LOAD_TICK_NS);
    processors().map(|c| cpu_load_ticks(c, tick)).fold([0; CPU_STATE_MAX], |mut sum, ticks| {
        for (s, t) in sum.iter_mut().zip(ticks) {
            *s = s.wrapping_add(t);
        }
        sum
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_ten_milliseconds_truncated_to_32_bits() {
        // The host stand-in counter runs at 62.5 MHz: a tick is 625 000 units.
        let tick = nanoseconds_to_absolutetime(CPU_LOAD_TICK_NS);
        assert_eq!(tick, 625_000);
        assert_eq!(time_to_load_ticks(0, tick), 0);
        assert_eq!(time_to_load_ticks(tick - 1, tick), 0, "partial ticks are dropped");
        assert_eq!(time_to_load_ticks(62_500_000, tick), 100, "a second is 100 ticks");
        assert_eq!(time_to_load_ticks((u64::from(u32::MAX) + 5) * tick, tick), 4, "the counters wrap");
        assert_eq!(time_to_load_ticks(7, 0), 7, "a zero tick length divides by one");
    }

    #[test]
    fn a_cpu_reports_its_three_times_and_no_nice() {
        let cpu = &cpu_data::all_cpus()[0];
        let tick = 1000;
        let before = cpu_load_ticks(cpu, tick);
        cpu.charge_time(CpuTime::User, 3 * tick);
        cpu.charge_time(CpuTime::System, 2 * tick);
        cpu.charge_time(CpuTime::Idle, 5 * tick + 1);
        let after = cpu_load_ticks(cpu, tick);
        // Other tests share CPU 0's block: the counters only grow.
        assert!(after[CPU_STATE_USER] >= before[CPU_STATE_USER] + 3);
        assert!(after[CPU_STATE_SYSTEM] >= before[CPU_STATE_SYSTEM] + 2);
        assert!(after[CPU_STATE_IDLE] >= before[CPU_STATE_IDLE] + 5);
        assert_eq!(after[mach::info::CPU_STATE_NICE], 0);
    }
}
