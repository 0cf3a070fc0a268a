//! Scheduling policy, hardware-free: Mach's priority bands, the three scheduling modes, and
//! how a time-sharing thread's priority decays with the CPU it has used (XNU's
//! `sched_prim.c`/`priority.c`, reference §12). `sched_prim` applies it.

/// Highest priority.
pub const MAXPRI: u8 = 127;
/// Real-time band: 97..=127 (`BASEPRI_RTQUEUES`).
pub const BASEPRI_RTQUEUES: u8 = 97;
/// Bottom of the kernel band (`MINPRI_KERNEL`).
pub const MINPRI_KERNEL: u8 = 80;
/// Default priority of kernel threads (`BASEPRI_KERNEL`).
pub const BASEPRI_KERNEL: u8 = 81;
/// Highest priority a user thread may ask for (`MAXPRI_USER`).
pub const MAXPRI_USER: u8 = 63;
/// Default priority of user threads (`BASEPRI_DEFAULT`).
pub const BASEPRI_DEFAULT: u8 = 31;
/// Lowest priority; the idle thread runs here (`MINPRI`, `IDLEPRI`).
pub const MINPRI: u8 = 0;
/// The idle thread's priority.
pub const IDLEPRI: u8 = 0;

/// How a thread's scheduled priority is computed (`sched_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SchedMode {
    /// Priority drops as the thread uses CPU and recovers as it sleeps (user default).
    Timeshare = 3,
    /// Priority is the base priority, always (kernel threads).
    Fixed = 2,
    /// Above every other band; runs until it blocks or its computation ends.
    Realtime = 1,
}

impl SchedMode {
    /// From the stored byte.
    pub const fn from_u8(v: u8) -> SchedMode {
        match v {
            1 => SchedMode::Realtime,
            2 => SchedMode::Fixed,
            _ => SchedMode::Timeshare,
        }
    }
}

/// The scheduler tick: usage decays once per tick (XNU: 1 s >> SCHED_TICK_SHIFT = 125 ms).
pub const SCHED_TICK_NS: u64 = 125_000_000;

/// CPU usage is counted in quanta run; one full quantum of running costs this many
/// priority points before decay. A thread that runs flat out for a while drops about 10
/// levels below its base; one that mostly sleeps stays at it.
pub const USAGE_PER_QUANTUM: u32 = 8;
/// Usage is scaled by this before it becomes a priority penalty.
const USAGE_SHIFT: u32 = 3;
/// The most a time-sharing thread can lose from its base priority.
pub const MAX_TIMESHARE_PENALTY: u8 = 24;

/// Decay `usage` for `ticks` scheduler ticks: ×5/8 per tick, as XNU's `sched_decay_shifts`
/// approximate (5/8)^n.
pub fn decay_usage(mut usage: u32, ticks: u32) -> u32 {
    for _ in 0..ticks.min(32) {
        usage = usage - (usage >> 2) - (usage >> 3);
        if usage == 0 {
            break;
        }
    }
    if ticks >= 32 { 0 } else { usage }
}

/// The scheduled priority of a thread with this mode, base priority and usage.
pub fn compute_sched_pri(mode: SchedMode, base_pri: u8, usage: u32) -> u8 {
    match mode {
        SchedMode::Fixed | SchedMode::Realtime => base_pri,
        SchedMode::Timeshare => {
            let penalty = (usage >> USAGE_SHIFT).min(MAX_TIMESHARE_PENALTY as u32) as u8;
            base_pri.saturating_sub(penalty).max(MINPRI + 1)
        }
    }
}

/// Map a BSD nice value (−20..=20) to a Mach base priority around BASEPRI_DEFAULT, as
/// `setpriority` does; larger nice means lower priority.
pub fn nice_to_base_pri(nice: i32) -> u8 {
    let nice = nice.clamp(-20, 20);
    (BASEPRI_DEFAULT as i32 - nice).clamp(MINPRI as i32 + 1, MAXPRI_USER as i32) as u8
}

/// The nice value that `nice_to_base_pri` maps to `base_pri`.
pub fn base_pri_to_nice(base_pri: u8) -> i32 {
    (BASEPRI_DEFAULT as i32 - base_pri as i32).clamp(-20, 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_is_five_eighths_per_tick() {
        assert_eq!(decay_usage(64, 1), 40);
        assert_eq!(decay_usage(64, 2), 25);
        assert_eq!(decay_usage(1000, 40), 0);
        assert_eq!(decay_usage(0, 3), 0);
    }

    #[test]
    fn timeshare_threads_drop_with_usage_and_never_reach_idle() {
        let hog = compute_sched_pri(SchedMode::Timeshare, BASEPRI_DEFAULT, 10 * USAGE_PER_QUANTUM);
        assert!(hog < BASEPRI_DEFAULT);
        assert_eq!(compute_sched_pri(SchedMode::Timeshare, BASEPRI_DEFAULT, 0), BASEPRI_DEFAULT);
        assert_eq!(compute_sched_pri(SchedMode::Timeshare, 4, u32::MAX), 1);
        assert_eq!(compute_sched_pri(SchedMode::Fixed, BASEPRI_KERNEL, 10_000), BASEPRI_KERNEL);
        assert_eq!(
            compute_sched_pri(SchedMode::Timeshare, BASEPRI_DEFAULT, u32::MAX),
            BASEPRI_DEFAULT - MAX_TIMESHARE_PENALTY
        );
    }

    #[test]
    fn an_interactive_thread_outranks_a_hog() {
        // A hog runs every quantum; an interactive thread runs one quantum in eight.
        let (mut hog, mut inter) = (0u32, 0u32);
        for tick in 0..40 {
            hog = decay_usage(hog + 12 * USAGE_PER_QUANTUM, 1);
            if tick % 8 == 0 {
                inter += USAGE_PER_QUANTUM;
            }
            inter = decay_usage(inter, 1);
        }
        let p_hog = compute_sched_pri(SchedMode::Timeshare, BASEPRI_DEFAULT, hog);
        let p_inter = compute_sched_pri(SchedMode::Timeshare, BASEPRI_DEFAULT, inter);
        assert!(p_inter > p_hog, "interactive {p_inter} vs hog {p_hog}");
    }

    #[test]
    fn nice_maps_both_ways() {
        assert_eq!(nice_to_base_pri(0), BASEPRI_DEFAULT);
        assert_eq!(nice_to_base_pri(20), 11);
        assert_eq!(nice_to_base_pri(-20), 51);
        assert_eq!(nice_to_base_pri(i32::MIN), 51);
        for n in -20..=20 {
            assert_eq!(base_pri_to_nice(nice_to_base_pri(n)), n);
        }
    }
}
