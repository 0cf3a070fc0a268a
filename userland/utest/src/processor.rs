//! The machine's CPUs from user space (issue B2): `hw.ncpu`, `hw.activecpu` and the
//! physical / logical counts against `host_info(HOST_BASIC_INFO)`, and each processor's load
//! through `host_processor_info(PROCESSOR_CPU_LOAD_INFO)` and
//! `host_statistics(HOST_CPU_LOAD_INFO)`. Written for any number of CPUs: nothing assumes 1.

use libsys::introspect::{sysctl_read, sysctlbyname_read};
use libsys::mach::*;
use libsys::mach_traps::{mach_absolute_time, mach_task_self};
use libsys::{Args, println};
use mach::KernReturn;
use mach::info::*;
use mach::message::*;
use sys::sysctl::{CTL_HW, HW_AVAILCPU, HW_NCPU};

use crate::ipc::{drop_port, simple};
use crate::sched::ticks_per_ms;
use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("hw.ncpu, hw.activecpu, physical and logical CPUs agree with host_info", counts_agree),
    ("host_processor_info: a load quadruple per CPU, ticks advance, OOL deallocates", cpu_load),
    ("host_processor_info: reply layout, unknown flavor, not a host port", cpu_load_errors),
];

const SUCCESS: KernReturn = KernReturn::KERN_SUCCESS;

/// An `int` sysctl by name.
fn int_by_name(name: &[u8]) -> Result<u32, &'static str> {
    let mut b = [0u8; 8];
    match sysctlbyname_read(name, &mut b) {
        Ok(4) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => Err("an int sysctl by name"),
    }
}

/// An `int` sysctl by number.
pub(crate) fn int_by_mib(mib: &[i32]) -> Result<u32, &'static str> {
    let mut b = [0u8; 8];
    match sysctl_read(mib, &mut b) {
        Ok(4) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => Err("an int sysctl by number"),
    }
}

fn counts_agree(_: &Args) -> Result<(), &'static str> {
    let host = mach_host_self();
    let mut info = [0u32; 32];
    let mut count = HOST_BASIC_INFO_COUNT;
    check(host_info(host, HOST_BASIC_INFO, &mut info, &mut count) == SUCCESS, "host_info")?;
    check(count == HOST_BASIC_INFO_COUNT, "12 words")?;
    let (max, avail) = (info[0], info[1]);
    check(avail >= 1 && avail <= max, "1 <= avail_cpus <= max_cpus")?;
    println!("utest:   {max} CPUs, {avail} up");
    check(int_by_mib(&[CTL_HW, HW_NCPU])? == max, "hw.ncpu == max_cpus")?;
    check(int_by_mib(&[CTL_HW, HW_AVAILCPU])? == avail, "hw.activecpu == avail_cpus")?;
    check(int_by_name(b"hw.ncpu")? == max && int_by_name(b"hw.activecpu")? == avail, "the same by name")?;
    check(int_by_name(b"hw.physicalcpu")? == info[6], "hw.physicalcpu == physical_cpu")?;
    check(int_by_name(b"hw.physicalcpu_max")? == info[7], "hw.physicalcpu_max == physical_cpu_max")?;
    check(int_by_name(b"hw.logicalcpu")? == info[8], "hw.logicalcpu == logical_cpu")?;
    check(int_by_name(b"hw.logicalcpu_max")? == info[9], "hw.logicalcpu_max == logical_cpu_max")?;
    check(info[6] == avail && info[7] == max, "one core per CPU")?;
    // An older caller's count gets the first five fields; fewer is refused.
    let mut count = HOST_BASIC_INFO_OLD_COUNT + 2;
    let mut old = [0u32; 32];
    check(host_info(host, HOST_BASIC_INFO, &mut old, &mut count) == SUCCESS, "old count")?;
    check(count == HOST_BASIC_INFO_OLD_COUNT && old[..5] == info[..5], "first five fields")?;
    let mut count = HOST_BASIC_INFO_OLD_COUNT - 1;
    check(host_info(host, HOST_BASIC_INFO, &mut old, &mut count) == KernReturn::KERN_FAILURE, "short count")
}

/// The load counters of every processor: `{user, system, idle, nice}` per CPU.
struct Load {
    ticks: [[u32; CPU_STATE_MAX]; 8],
    processors: usize,
}

impl Load {
    fn read() -> Result<Load, &'static str> {
        let task = mach_task_self();
        let (mut n, mut addr, mut cnt) = (0u32, 0u64, 0u32);
        let kr = host_processor_info(mach_host_self(), PROCESSOR_CPU_LOAD_INFO, &mut n, &mut addr, &mut cnt);
        check(kr == SUCCESS, "host_processor_info")?;
        check(n >= 1 && n as usize <= 8, "processor count")?;
        check(cnt == n * PROCESSOR_CPU_LOAD_INFO_COUNT, "out_processor_infoCnt is 4 per processor")?;
        let mut load = Load { ticks: [[0; CPU_STATE_MAX]; 8], processors: n as usize };
        // SAFETY: the kernel mapped `cnt` u32s for us at `addr`.
        let words = unsafe { core::slice::from_raw_parts(addr as *const u32, cnt as usize) };
        for (cpu, quad) in words.chunks_exact(CPU_STATE_MAX).enumerate() {
            load.ticks[cpu].copy_from_slice(quad);
        }
        check(mach_vm_deallocate(task, addr, 4 * u64::from(cnt)) == SUCCESS, "vm_deallocate the info")?;
        Ok(load)
    }

    /// One counter summed over the processors (wrapping, as the counters do).
    fn sum(&self, state: usize) -> u32 {
        self.ticks[..self.processors].iter().fold(0u32, |s, q| s.wrapping_add(q[state]))
    }

    /// All time the processors spent, in ticks.
    fn busy_and_idle(&self) -> u32 {
        [CPU_STATE_USER, CPU_STATE_SYSTEM, CPU_STATE_IDLE]
            .iter()
            .fold(0u32, |s, &i| s.wrapping_add(self.sum(i)))
    }
}

fn cpu_load(_: &Args) -> Result<(), &'static str> {
    let before = Load::read()?;
    check(before.processors as u32 == int_by_mib(&[CTL_HW, HW_AVAILCPU])?, "one quadruple per active CPU")?;
    check(before.ticks[..before.processors].iter().all(|q| q[CPU_STATE_NICE] == 0), "nice is 0")?;
    // Spin in user mode for 80 ms (8 ticks).
    let end = mach_absolute_time() + 80 * ticks_per_ms();
    while mach_absolute_time() < end {
        core::hint::spin_loop();
    }
    let after = Load::read()?;
    check(after.processors == before.processors, "the same processors")?;
    for (b, a) in before.ticks.iter().zip(&after.ticks).take(after.processors) {
        check((0..CPU_STATE_MAX).all(|i| a[i].wrapping_sub(b[i]) < 1 << 31), "counters never go back")?;
        check(a[CPU_STATE_NICE] == 0, "nice stays 0")?;
    }
    // The busy CPU (wherever we ran) accounted for the spin: at least 4 of its 8 ticks.
    let user = after.sum(CPU_STATE_USER).wrapping_sub(before.sum(CPU_STATE_USER));
    let all = after.busy_and_idle().wrapping_sub(before.busy_and_idle());
    check((4..1 << 31).contains(&user), "user ticks grew by the spin")?;
    check(all >= user, "user + system + idle grew")?;
    let total = |q: &[u32; CPU_STATE_MAX]| {
        q[CPU_STATE_USER].wrapping_add(q[CPU_STATE_SYSTEM]).wrapping_add(q[CPU_STATE_IDLE])
    };
    let busiest = before.ticks.iter().zip(&after.ticks).map(|(b, a)| total(a).wrapping_sub(total(b))).max();
    check(busiest.is_some_and(|t| t >= 2), "the busy CPU's user + system + idle grew")?;
    // host_statistics(HOST_CPU_LOAD_INFO): the same counters summed over the processors.
    let mut sums = [0u32; 8];
    let mut count = HOST_CPU_LOAD_INFO_COUNT;
    check(
        host_statistics(mach_host_self(), HOST_CPU_LOAD_INFO, &mut sums, &mut count) == SUCCESS,
        "host_statistics(HOST_CPU_LOAD_INFO)",
    )?;
    check(count == HOST_CPU_LOAD_INFO_COUNT && sums[CPU_STATE_NICE] == 0, "4 counters, nice 0")?;
    for state in [CPU_STATE_USER, CPU_STATE_SYSTEM, CPU_STATE_IDLE] {
        check(sums[state].wrapping_sub(after.sum(state)) < 1 << 31, "sums are at least the processors'")?;
    }
    let mut count = HOST_CPU_LOAD_INFO_COUNT - 1;
    let kr = host_statistics(mach_host_self(), HOST_CPU_LOAD_INFO, &mut sums, &mut count);
    check(kr == KernReturn::KERN_FAILURE, "a short count is KERN_FAILURE")
}

fn cpu_load_errors(_: &Args) -> Result<(), &'static str> {
    let host = mach_host_self();
    let (mut n, mut addr, mut cnt) = (0u32, 0u64, 0u32);
    let kr = host_processor_info(host, PROCESSOR_CPU_LOAD_INFO + 7, &mut n, &mut addr, &mut cnt);
    check(kr == KernReturn::KERN_FAILURE, "unknown flavor: KERN_FAILURE")?;
    let kr = host_processor_info(mach_task_self(), PROCESSOR_CPU_LOAD_INFO, &mut n, &mut addr, &mut cnt);
    check(kr == KernReturn::KERN_INVALID_ARGUMENT, "a task port is not the host")?;

    // The reply on the wire: complex, 60 bytes, one OOL descriptor of 16 bytes per processor,
    // NDR, out_processor_count, out_processor_infoCnt.
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    buf.set_header(&simple(host, bits, reply, mach::defs::HOST_PROCESSOR_INFO.id));
    buf.put(24, &mach::mig::NDR_RECORD);
    buf.put(32, &PROCESSOR_CPU_LOAD_INFO.to_le_bytes());
    check(buf.call(36, reply) == MACH_MSG_SUCCESS, "raw request")?;
    drop_port(reply);
    let h = buf.header();
    check(h.msgh_id == 304 && h.msgh_size == 60, "reply id and size")?;
    check(h.msgh_bits & MACH_MSGH_BITS_COMPLEX != 0 && buf.word(24) == 1, "complex, one descriptor")?;
    let (data, size, processors, words) = (buf.long(28), buf.word(40), buf.word(52), buf.word(56));
    check(u32::from(buf.0[39]) == MACH_MSG_OOL_DESCRIPTOR, "an OOL descriptor")?;
    check(processors >= 1 && size == 16 * processors && words == 4 * processors, "sizes and counts")?;
    check(buf.0[44..52] == mach::mig::NDR_RECORD, "NDR record")?;
    check(mach_vm_deallocate(mach_task_self(), data, u64::from(size)) == SUCCESS, "vm_deallocate")
}
