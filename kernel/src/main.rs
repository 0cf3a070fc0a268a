//! The kernel image: boot, exception vectors, drivers and platform glue around the two
//! halves of the kernel, Mach (`osfmk`) and BSD (`bsd`).
//!
//! # A tour
//! * Boot follows XNU's `start → arm_init → kernel_bootstrap → bsd_init`:
//!   [`boot`] (assembly: EL2 → EL1, FP/SIMD, BSS, boot page tables, jump to the upper half)
//!   → [`kernel_entry`] (find the DTB, console, heap, [`platform`] info, frame pool, kernel
//!   page tables in [`memory`], vectors, GIC and timer) → `kmain` (Mach: kernel task,
//!   threads, scheduler; then BSD: proc 0, the root ramfs from the initrd, `/sbin/init`).
//! * Exceptions enter through [`exception`]; `svc #0x80` goes to [`syscall`], which splits on
//!   x16 into BSD (`bsd::kern::syscalls`), Mach (`osfmk::kern::syscall_sw`) and the platform
//!   call. IRQs go through [`irq`] to the [`timer`] (preemption) and the [`console`] UART.
//! * Drivers live in [`drivers`], one register block per device, typed with tock-registers.
//!
//! # Where to add things
//! * A BSD system call: a line in `bsd/sys/syscalls.master` marked STD with XNU's prototype,
//!   and a function of the same name taking exactly those types in `bsd::kern::syscalls`.
//!   The dispatcher and the user stub in `libsys` are generated from the line.
//! * A Mach trap: its line with XNU's types in `mach::traps::for_each_mach_trap!` and a
//!   function of that name and signature in its subsystem (see `osfmk::kern::syscall_sw`).
//! * A kernel object reached through a port: implement `osfmk::kern::ipc_kobject::KObject`
//!   (its `IkotType`), make its port with `ipc_kobject_alloc_port`, and find it with
//!   `IpcSpace::lookup_kobject::<T>(name, rights)`; a MIG routine is a line in
//!   `mach::defs::for_each_mig_routine!` and a handler in `osfmk::kern::mig_servers`.
//! * A driver: a module in [`drivers`] with its register block, its address from [`platform`].
#![no_std]
#![no_main]

extern crate alloc;

mod boot;
#[cfg(not(feature = "ktest"))]
mod bsd_glue;
pub mod console;
mod drivers;
mod exception;
mod irq;
mod ktest;
#[cfg(feature = "ktest")]
mod ktest_locks;
mod memory;
mod panic;
mod platform;
mod smp;
mod syscall;
mod timer;

use aarch64_cpu::registers::{MIDR_EL1, Readable};
use osfmk::arm64::pmap::phys_to_virt;
use osfmk::kern::sched_prim::{self, BASEPRI_KERNEL, IDLEPRI};
use osfmk::kern::task::Task;
use osfmk::kern::thread::Thread;

use crate::drivers::gic::Gic;
use crate::platform::{FDT_MAGIC, GicVersion, PlatformInfo};

/// The kernel's name and version, as the banner prints them.
pub const KERNEL_NAME: &str = "rxnu";
pub const KERNEL_VERSION: &str = env!("CARGO_PKG_VERSION");

const GIB: u64 = 1 << 30;

/// Where the DTB is: x0 under the Linux/Image boot protocol; for a bare ELF boot QEMU puts it
/// at the start of the RAM we were loaded into (qemu-toolchain-notes §0), so look there.
fn find_dtb(x0: u64) -> Option<u64> {
    let candidates = [x0, memory::image_phys_range().0 & !(GIB - 1)];
    candidates.into_iter().filter(|&pa| pa != 0).find(|&pa| {
        // SAFETY: the boot tables map every physical address below 512 GiB in the direct
        // map; the first word of RAM or of the DTB x0 names is readable.
        let magic = unsafe { (phys_to_virt(pa) as *const u32).read_volatile() };
        u32::from_be(magic) == FDT_MAGIC
    })
}

/// A physical range `[start, end)`.
type PhysRange = (u64, u64);

/// The RAM range holding the kernel, DTB and initrd ranges: read without allocating.
fn early_memory(dtb_pa: u64) -> Option<(PhysRange, [PhysRange; 3])> {
    // SAFETY: `dtb_pa` holds a DTB (magic checked) mapped in the direct map.
    let fdt = unsafe { fdt::Fdt::from_ptr(phys_to_virt(dtb_pa) as *const u8) }.ok()?;
    let image = memory::image_phys_range();
    let ram = fdt.memory().regions().find_map(|r| {
        let start = r.starting_address as u64;
        let end = start + r.size? as u64;
        (start <= image.0 && image.1 <= end).then_some((start, end))
    })?;
    let chosen = fdt.find_node("/chosen");
    let prop = |name: &str| -> Option<u64> {
        let v = chosen?.property(name)?.value;
        match v.len() {
            4 => Some(u32::from_be_bytes(v.try_into().ok()?) as u64),
            8 => Some(u64::from_be_bytes(v.try_into().ok()?)),
            _ => None,
        }
    };
    let initrd = match (prop("linux,initrd-start"), prop("linux,initrd-end")) {
        (Some(s), Some(e)) => (s, e),
        _ => (0, 0),
    };
    Some((ram, [image, (dtb_pa, dtb_pa + fdt.total_size() as u64), initrd]))
}

fn early_uart(dtb_pa: u64) -> Option<u64> {
    // SAFETY: as in `early_memory`.
    let fdt = unsafe { fdt::Fdt::from_ptr(phys_to_virt(dtb_pa) as *const u8) }.ok()?;
    let reg = fdt.find_compatible(&["arm,pl011"])?.reg()?.next()?;
    Some(reg.starting_address as u64)
}

fn cpu_name(midr: u64) -> &'static str {
    match (midr >> 24 & 0xff, midr >> 4 & 0xfff) {
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd07) => "Cortex-A57",
        (0x41, 0xd08) => "Cortex-A72",
        (0x41, 0xd0c) => "Neoverse-N1",
        (0x41, 0xd40) => "Neoverse-V1",
        (0x41, 0xd4f) => "Neoverse-V2",
        (0x41, _) => "Arm core",
        (0x00, _) => "QEMU 'max'",
        _ => "unknown core",
    }
}

/// First Rust code, on the boot stack in the upper half, IRQs masked.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(x0: u64, entry_el: u64) -> ! {
    // This CPU's block first: every lock below reads it.
    osfmk::arm64::cpu_data::cpu_data_attach_boot(aarch64_cpu::registers::MPIDR_EL1.get());
    let Some(dtb_pa) = find_dtb(x0) else {
        // Without a DTB there is no console to complain on.
        drivers::semihosting::exit(panic::PANIC_EXIT_STATUS)
    };
    if let Some(uart) = early_uart(dtb_pa) {
        // SAFETY: the DTB names this PL011; the boot tables map it as device memory, and
        // `memory::init_kernel_pmap` maps it at the same address.
        unsafe { console::init(phys_to_virt(uart) as usize) };
    }
    exception::init();
    let Some((ram, reserved)) = early_memory(dtb_pa) else {
        panic!("DTB has no memory node around the kernel")
    };
    let heap = memory::init_heap(ram, &reserved).expect("no room for the kernel heap");
    // SAFETY: `dtb_pa` holds a valid DTB that nothing overwrites (it is reserved).
    let info = match unsafe { PlatformInfo::from_dtb(phys_to_virt(dtb_pa), dtb_pa) } {
        Ok(info) => info,
        Err(e) => panic!("cannot use the device tree: {e}"),
    };
    memory::init_frames(&info, heap);
    if let Err(kr) = memory::init_kernel_pmap(&info) {
        panic!("building the kernel page tables failed: {}", kr.name());
    }
    let pan = memory::enable_pan();
    kmain(info, entry_el, pan)
}

#[unsafe(no_mangle)]
fn kmain(info: PlatformInfo, entry_el: u64, pan: bool) -> ! {
    let midr = MIDR_EL1.get();
    let (free, total) = osfmk::vm::vm_page::vm_page_counts();
    kprintln!(
        "{KERNEL_NAME} {KERNEL_VERSION} (aarch64): {} MIDR {midr:#010x}, {} MiB RAM, GICv{}, entered at EL{entry_el}",
        cpu_name(midr),
        info.memory_size() >> 20,
        match info.gic_version {
            GicVersion::V2 => 2,
            GicVersion::V3 => 3,
        }
    );
    // Every CPU the device tree lists gets its per-CPU block; this one (the boot CPU) runs,
    // the others stay down until they are brought up.
    let (cpus, dropped) = osfmk::arm64::cpu_data::cpu_data_register(info.cpus.iter().copied());
    if dropped > 0 {
        kprintln!("  {cpus} CPUs in the device tree are used; {dropped} more are beyond the kernel's limit");
    }
    kprintln!(
        "  {} of {} pages free, timer {} Hz, PAN {}, PSCI {:?}, bootargs \"{}\"",
        free,
        total,
        osfmk::arm64::cpu::counter_frequency(),
        if pan { "on" } else { "not available" },
        info.psci,
        info.bootargs
    );

    // Interrupts: the GIC the DTB describes, the scheduler tick and the console input.
    // SAFETY: the addresses come from the DTB and are mapped as device memory by
    // `init_kernel_pmap`; only `irq` drives the GIC.
    let gic = unsafe {
        match info.gic_version {
            GicVersion::V2 => {
                Gic::new_v2(phys_to_virt(info.gicd.0) as usize, phys_to_virt(info.gicc_or_gicr.0) as usize)
            }
            GicVersion::V3 => {
                let gicr =
                    (phys_to_virt(info.gicc_or_gicr.0) as usize, phys_to_virt(info.gicc_or_gicr.1) as usize);
                Gic::new_v3(phys_to_virt(info.gicd.0) as usize, gicr)
            }
        }
    };
    let mut routes = alloc::vec![
        irq::RESCHEDULE_ROUTE,
        irq::IrqRoute {
            intid: info.vtimer_irq,
            name: "virtual timer",
            scope: irq::IrqScope::PerCpu,
            handler: timer::handle_irq,
        },
    ];
    if let Some(uart) = info.uart_irq {
        routes.push(irq::IrqRoute {
            intid: uart,
            name: "console uart",
            scope: irq::IrqScope::BootCpu,
            handler: console::handle_irq,
        });
    }
    if let Err(e) = irq::init(gic, &routes) {
        panic!("the interrupt routing cannot be set up: {e:?}");
    }
    kprint!("  interrupts:");
    for (i, r) in routes.iter().enumerate() {
        kprint!("{}{r}", if i == 0 { " " } else { ", " });
    }
    kprintln!();
    console::enable_input();

    // Mach: the kernel task, this boot thread, the idle thread, the scheduler.
    let kernel_task = Task::kernel_task().expect("kernel task");
    let boot_thread = Thread::bootstrap(kernel_task.clone(), BASEPRI_KERNEL).expect("boot thread");
    let idle = Thread::create(kernel_task.clone(), IDLEPRI, idle_main, 0).expect("idle thread");
    timer::init();
    sched_prim::sched_init(boot_thread, idle, &timer::VIRTUAL_TIMER);
    osfmk::arm64::cpu::interrupts_enable();

    // The other CPUs, each on an idle thread of its own.
    let started = smp::start_secondaries(info.psci, &kernel_task);
    kprintln!(
        "  {} of {} CPU{} running (boot CPU MPIDR {:#x}){}",
        started.running,
        cpus,
        if cpus == 1 { "" } else { "s" },
        osfmk::arm64::cpu_data::current_cpu().mpidr(),
        if started.failed.is_empty() { "" } else { "; left out:" }
    );
    for (n, mpidr, why) in &started.failed {
        kprintln!("    CPU {n} (MPIDR {mpidr:#x}): {why}");
    }

    #[cfg(feature = "ktest")]
    ktest::run(kernel_task, &info.bootargs);

    // BSD: proc 0, the root file system, init. Then this boot thread's work is done.
    #[cfg(not(feature = "ktest"))]
    {
        bsd_glue::bsd_init(&info, kernel_task);
        osfmk::kern::thread_act::thread_terminate_self()
    }
}

/// The boot CPU's idle thread starts here when first switched to. A secondary CPU's idle
/// thread never does: that CPU starts on its stack, already running it (`smp`).
extern "C" fn idle_main(_: u64) -> ! {
    sched_prim::thread_continue();
    sched_prim::idle_thread_loop()
}
