//! `task_info`, `thread_info`, `host_info` / `host_statistics` flavors and their word counts,
//! thread-state flavors, scheduling policies and run states (reference §8).

/// `task_info` flavors and counts (in `natural_t` words).
pub const TASK_THREAD_TIMES_INFO: u32 = 3;
pub const TASK_THREAD_TIMES_INFO_COUNT: u32 = 4;
pub const TASK_AUDIT_TOKEN: u32 = 15;
pub const TASK_AUDIT_TOKEN_COUNT: u32 = 8;
pub const TASK_BASIC_INFO_64_2: u32 = 18;
pub const TASK_BASIC_INFO_64_2_COUNT: u32 = 10;
pub const MACH_TASK_BASIC_INFO: u32 = 20;
pub const MACH_TASK_BASIC_INFO_COUNT: u32 = 12;

/// `thread_info` flavor `THREAD_BASIC_INFO` and its count.
pub const THREAD_BASIC_INFO: u32 = 3;
pub const THREAD_BASIC_INFO_COUNT: u32 = 10;
/// `thread_basic_info.run_state`.
pub const TH_STATE_RUNNING: u32 = 1;
pub const TH_STATE_STOPPED: u32 = 2;
pub const TH_STATE_WAITING: u32 = 3;
pub const TH_STATE_UNINTERRUPTIBLE: u32 = 4;
pub const TH_STATE_HALTED: u32 = 5;
/// `policy_t`.
pub const POLICY_TIMESHARE: u32 = 1;
pub const POLICY_RR: u32 = 2;
pub const POLICY_FIFO: u32 = 4;

/// Thread-state flavor `ARM_THREAD_STATE64`: x0–x28, fp, lr, sp, pc, cpsr, flags.
pub const ARM_THREAD_STATE64: u32 = 6;
pub const ARM_THREAD_STATE64_COUNT: u32 = 68;
/// Word index of pc (low half) in `ARM_THREAD_STATE64`.
pub const ARM_THREAD_STATE64_PC: usize = 64;

/// `host_info` flavors and counts.
pub const HOST_BASIC_INFO: u32 = 1;
pub const HOST_BASIC_INFO_COUNT: u32 = 12;
/// The first five fields only (`max_cpus` to `cpu_subtype`): what older callers ask for.
pub const HOST_BASIC_INFO_OLD_COUNT: u32 = 5;
pub const HOST_SCHED_INFO: u32 = 3;
pub const HOST_SCHED_INFO_COUNT: u32 = 2;
/// `host_statistics` flavor `HOST_VM_INFO` (`vm_statistics`) and its count.
pub const HOST_VM_INFO: u32 = 2;
pub const HOST_VM_INFO_COUNT: u32 = 15;
/// `CPU_TYPE_ARM64` (`CPU_TYPE_ARM | CPU_ARCH_ABI64`); subtype `CPU_SUBTYPE_ARM64_ALL` is 0.
pub const CPU_TYPE_ARM64: u32 = 0x0100_000c;

/// `host_statistics` flavor `HOST_CPU_LOAD_INFO` (`host_cpu_load_info`: the CPU-state tick
/// counters summed over every processor) and its count.
pub const HOST_CPU_LOAD_INFO: u32 = 3;
pub const HOST_CPU_LOAD_INFO_COUNT: u32 = CPU_STATE_MAX as u32;
/// `processor_info` flavor `PROCESSOR_CPU_LOAD_INFO` (`processor_cpu_load_info`: one
/// processor's tick counters) and its count (reference files-tty-tools §4.5).
pub const PROCESSOR_CPU_LOAD_INFO: u32 = 2;
pub const PROCESSOR_CPU_LOAD_INFO_COUNT: u32 = CPU_STATE_MAX as u32;
/// Indices of the tick counters (`cpu_ticks[CPU_STATE_MAX]`). `CPU_STATE_NICE` is always 0.
pub const CPU_STATE_USER: usize = 0;
pub const CPU_STATE_SYSTEM: usize = 1;
pub const CPU_STATE_IDLE: usize = 2;
pub const CPU_STATE_NICE: usize = 3;
pub const CPU_STATE_MAX: usize = 4;
/// Length of one CPU-load tick: 1/100 s (the counters are in units of 10 ms).
pub const CPU_LOAD_TICK_NS: u64 = 10_000_000;
