//! `sysctl` names (XNU `bsd/sys/sysctl.h`): the top-level and second-level numbers this
//! kernel answers.

/// Longest name (`CTL_MAXNAME`).
pub const CTL_MAXNAME: usize = 12;
/// Top level: kernel and hardware.
pub const CTL_KERN: i32 = 1;
pub const CTL_HW: i32 = 6;
/// `kern.*`.
pub const KERN_OSTYPE: i32 = 1;
pub const KERN_OSRELEASE: i32 = 2;
pub const KERN_VERSION: i32 = 4;
pub const KERN_MAXVNODES: i32 = 5;
pub const KERN_MAXPROC: i32 = 6;
/// `kern.maxfiles`: open file descriptions the system may hold (read-write for root).
pub const KERN_MAXFILES: i32 = 7;
pub const KERN_ARGMAX: i32 = 8;
pub const KERN_HOSTNAME: i32 = 10;
pub const KERN_PROC: i32 = 14;
/// `kern.proc.*`: which processes (the fourth name component is the pid, pgid, tty or uid).
pub const KERN_PROC_ALL: i32 = 0;
pub const KERN_PROC_PID: i32 = 1;
pub const KERN_PROC_PGRP: i32 = 2;
pub const KERN_PROC_TTY: i32 = 3;
pub const KERN_PROC_UID: i32 = 4;
pub const KERN_PROC_RUID: i32 = 5;
/// `vm.*`.
pub const CTL_VM: i32 = 2;
/// `vm.page_free_count` and `vm.page_count`: XNU numbers these when they register
/// (`OID_AUTO`, from 100 up) and tools find them by name; this kernel fixes the numbers.
pub const VM_PAGE_FREE_COUNT: i32 = 100;
pub const VM_PAGE_COUNT: i32 = 101;
/// `vm.kernel_heap_used`: bytes of the kernel heap in use (this kernel's own name; it lets
/// tests see that a burst of work leaked no kernel objects).
pub const VM_KERNEL_HEAP_USED: i32 = 102;
/// `kern.num_files`: open file descriptions now (numbered at registration in XNU; this
/// kernel fixes the number).
pub const KERN_NUM_FILES: i32 = 100;
/// `kern.num_vnodes`: vnodes now (numbered at registration in XNU; this kernel fixes the
/// number).
pub const KERN_NUM_VNODES: i32 = 101;
/// `hw.*`.
pub const HW_MACHINE: i32 = 1;
pub const HW_NCPU: i32 = 3;
pub const HW_PAGESIZE: i32 = 7;
pub const HW_MEMSIZE: i32 = 24;
/// `hw.activecpu`: the CPUs that are up (`hw.ncpu` is every CPU the machine has).
pub const HW_AVAILCPU: i32 = 25;
/// `hw.physicalcpu`, `hw.physicalcpu_max`, `hw.logicalcpu`, `hw.logicalcpu_max`: numbered
/// at registration in XNU (`OID_AUTO`, from 100 up; tools find them by name); this kernel
/// fixes the numbers.
pub const HW_PHYSICALCPU: i32 = 100;
pub const HW_PHYSICALCPU_MAX: i32 = 101;
pub const HW_LOGICALCPU: i32 = 102;
pub const HW_LOGICALCPU_MAX: i32 = 103;
/// Longest host name (`MAXHOSTNAMELEN`).
pub const MAXHOSTNAMELEN: usize = 256;

/// The names `sysctlbyname` knows, with the numbers they stand for.
pub const SYSCTL_NAMES: &[(&str, [i32; 2])] = &[
    ("kern.ostype", [CTL_KERN, KERN_OSTYPE]),
    ("kern.osrelease", [CTL_KERN, KERN_OSRELEASE]),
    ("kern.version", [CTL_KERN, KERN_VERSION]),
    ("kern.maxvnodes", [CTL_KERN, KERN_MAXVNODES]),
    ("kern.num_vnodes", [CTL_KERN, KERN_NUM_VNODES]),
    ("kern.maxproc", [CTL_KERN, KERN_MAXPROC]),
    ("kern.maxfiles", [CTL_KERN, KERN_MAXFILES]),
    ("kern.num_files", [CTL_KERN, KERN_NUM_FILES]),
    ("kern.argmax", [CTL_KERN, KERN_ARGMAX]),
    ("kern.hostname", [CTL_KERN, KERN_HOSTNAME]),
    ("vm.page_free_count", [CTL_VM, VM_PAGE_FREE_COUNT]),
    ("vm.page_count", [CTL_VM, VM_PAGE_COUNT]),
    ("vm.kernel_heap_used", [CTL_VM, VM_KERNEL_HEAP_USED]),
    ("hw.machine", [CTL_HW, HW_MACHINE]),
    ("hw.ncpu", [CTL_HW, HW_NCPU]),
    ("hw.activecpu", [CTL_HW, HW_AVAILCPU]),
    ("hw.physicalcpu", [CTL_HW, HW_PHYSICALCPU]),
    ("hw.physicalcpu_max", [CTL_HW, HW_PHYSICALCPU_MAX]),
    ("hw.logicalcpu", [CTL_HW, HW_LOGICALCPU]),
    ("hw.logicalcpu_max", [CTL_HW, HW_LOGICALCPU_MAX]),
    ("hw.pagesize", [CTL_HW, HW_PAGESIZE]),
    ("hw.memsize", [CTL_HW, HW_MEMSIZE]),
];

/// The numbers for a dotted name.
pub fn name_to_mib(name: &[u8]) -> Option<[i32; 2]> {
    SYSCTL_NAMES.iter().find(|(n, _)| n.as_bytes() == name).map(|&(_, mib)| mib)
}

/// Longest name `sysctlbyname` accepts (`MAXPATHLEN`).
pub const SYSCTL_NAME_MAX: usize = crate::param::MAXPATHLEN;
