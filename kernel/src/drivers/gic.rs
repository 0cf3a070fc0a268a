//! The Arm Generic Interrupt Controller, version 2 or 3, whichever the DTB describes.
//!
//! Register offsets: GICv2 from the GIC Architecture Specification v2 (IHI 0048B) §4.1;
//! GICv3 from IHI 0069 §12 (distributor), §12.10 (redistributor) and the ICC_* system
//! registers. Only group-1 non-secure interrupts are used; shared peripheral interrupts go
//! to the boot CPU, and the CPUs signal each other with software-generated interrupts.
//!
//! The distributor is set up once, by the boot CPU ([`Gic::init_distributor`]); each CPU then
//! brings up its own interface ([`Gic::init_cpu`]): the GICv2 CPU interface frame, which is
//! banked (the same address reaches each CPU's own), or its GICv3 redistributor, found by
//! affinity among the frames the device tree's region holds, plus its ICC system registers.

use core::sync::atomic::{AtomicUsize, Ordering};

use osfmk::arm64::cpu_data::{self, MAX_CPUS};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// Distributor (both versions share the parts we use).
    pub GicdRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => _reserved0),
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => _reserved1),
        (0x0400 => ipriorityr: [ReadWrite<u8>; 1024]),
        (0x0800 => itargetsr: [ReadWrite<u8>; 1024]),
        (0x0c00 => _reserved2),
        (0x6000 => irouter: [ReadWrite<u64>; 988]),
        (0x7ee0 => _reserved3),
        (0x10000 => @END),
    }
}

register_structs! {
    /// GICv2 CPU interface.
    pub GiccRegs {
        (0x00 => ctlr: ReadWrite<u32>),
        (0x04 => pmr: ReadWrite<u32>),
        (0x08 => _reserved0),
        (0x0c => iar: ReadOnly<u32>),
        (0x10 => eoir: WriteOnly<u32>),
        (0x14 => @END),
    }
}

register_structs! {
    /// GICv3 redistributor: the RD_base frame, then the SGI_base frame 64 KiB above it.
    pub GicrRegs {
        (0x00000 => ctlr: ReadWrite<u32>),
        (0x00004 => _reserved0),
        (0x00008 => typer: ReadOnly<u64>),
        (0x00010 => _reserved1),
        (0x00014 => waker: ReadWrite<u32>),
        (0x00018 => _reserved2),
        (0x10080 => igroupr0: ReadWrite<u32>),
        (0x10084 => _reserved3),
        (0x10100 => isenabler0: ReadWrite<u32>),
        (0x10104 => _reserved4),
        (0x10400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x10420 => @END),
    }
}

const GICD_CTLR_ENABLE_GRP0: u32 = 1 << 0;
const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;
const GICD_CTLR_ARE: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// GICD_SGIR (GICv2 only): writing it sends a software-generated interrupt.
const GICD_SGIR_OFFSET: usize = 0xf00;
const GICD_SGIR_TARGETS_SHIFT: u32 = 16;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// GICR_TYPER: the redistributor's affinity (Aff3.Aff2.Aff1.Aff0 in bits 63:32), the last
/// redistributor of a region (bit 4), and virtual LPI support (bit 1: two more 64 KiB frames).
const GICR_TYPER_AFFINITY_SHIFT: u32 = 32;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
/// A redistributor's frames: RD_base and SGI_base, and with VLPIs VLPI_base and a reserved one.
const GICR_FRAME: usize = 0x1_0000;
/// ICC_SGI1R_EL1 fields (IHI 0069 §12.11.29): target list (Aff0 bits 15:0), Aff1 23:16,
/// INTID 27:24, Aff2 39:32, Aff3 55:48.
const SGI1R_INTID_SHIFT: u32 = 24;
const SGI1R_AFF1_SHIFT: u32 = 16;
const SGI1R_AFF2_SHIFT: u32 = 32;
const SGI1R_AFF3_SHIFT: u32 = 48;
/// INTIDs 1020–1023 are special: 1023 means "nothing pending".
const INTID_SPECIAL_FIRST: u32 = 1020;
/// Priority given to every interrupt we enable (lower is more urgent; all equal here).
const DEFAULT_PRIORITY: u8 = 0xa0;
/// First shared peripheral interrupt; below are SGIs (0–15) and PPIs, banked per CPU.
const SPI_BASE: u32 = 32;
/// SGIs are INTIDs 0–15.
pub const SGI_COUNT: u32 = 16;

/// Each CPU's own part of the GIC, by `cpu_number()`: on GICv2 its CPU interface number as a
/// target bit (GICD_ITARGETSR0 read on that CPU), on GICv3 the address of its redistributor.
/// Written by each CPU for itself in [`Gic::init_cpu`], read by any CPU sending it an SGI.
static PER_CPU: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

/// Which GIC and where its frames are mapped.
pub enum Gic {
    V2 {
        gicd: &'static GicdRegs,
        gicc: &'static GiccRegs,
    },
    /// `gicr` is the virtual range `[start, end)` of every CPU's redistributor.
    V3 {
        gicd: &'static GicdRegs,
        gicr: (usize, usize),
    },
}

// SAFETY: the register frames are MMIO owned by this driver, valid for 'static.
unsafe impl Send for Gic {}
// SAFETY: shared use is sound register by register: the distributor is configured by
// `init_distributor` before anything else can reach the instance, and later only through
// write-one-to-set enable registers (GICD_ISENABLERn) and the write-only GICD_SGIR, which need
// no read-modify-write; everything else a CPU touches is its own: the GICv2 GICC frame decodes
// per accessing CPU, and on GICv3 each CPU programs only its own redistributor (found in
// `init_cpu`) and its own ICC system registers.
unsafe impl Sync for Gic {}

/// Why a CPU could not bring up its part of the GIC.
#[derive(Clone, Copy, Debug)]
pub enum GicCpuError {
    /// No redistributor in the region has this CPU's affinity.
    NoRedistributor,
    /// The CPU's number is past the kernel's per-CPU tables.
    BadCpuNumber,
}

impl Gic {
    /// # Safety
    /// `gicd` and `gicc` must be the mapped (device memory) virtual addresses of a GICv2's
    /// distributor and CPU interface, valid for 'static and driven by no one else.
    pub unsafe fn new_v2(gicd: usize, gicc: usize) -> Gic {
        // SAFETY: per the function contract.
        unsafe { Gic::V2 { gicd: &*(gicd as *const GicdRegs), gicc: &*(gicc as *const GiccRegs) } }
    }

    /// # Safety
    /// `gicd` must be the mapped virtual address of a GICv3's distributor and `gicr` the
    /// mapped virtual range of its redistributor region, valid for 'static and driven by no
    /// one else.
    pub unsafe fn new_v3(gicd: usize, gicr: (usize, usize)) -> Gic {
        // SAFETY: per the function contract.
        unsafe { Gic::V3 { gicd: &*(gicd as *const GicdRegs), gicr } }
    }

    /// Bring up the distributor (once, on the boot CPU, before any CPU's interface).
    pub fn init_distributor(&self) {
        match self {
            Gic::V2 { gicd, .. } => gicd.ctlr.set(GICD_CTLR_ENABLE_GRP0),
            Gic::V3 { gicd, .. } => {
                gicd.ctlr.set(GICD_CTLR_ARE | GICD_CTLR_ENABLE_GRP1 | GICD_CTLR_ENABLE_GRP0);
                while gicd.ctlr.get() & GICD_CTLR_RWP != 0 {
                    core::hint::spin_loop();
                }
            }
        }
    }

    /// Bring up this CPU's interface (each CPU, for itself, with interrupts masked). `mpidr`
    /// is this CPU's affinity.
    pub fn init_cpu(&self, mpidr: u64) -> Result<(), GicCpuError> {
        let slot = PER_CPU.get(cpu_data::cpu_number() as usize).ok_or(GicCpuError::BadCpuNumber)?;
        match self {
            Gic::V2 { gicd, gicc } => {
                // The first byte of GICD_ITARGETSR0 reads as this CPU's own target bit.
                let me = gicd.itargetsr[0].get();
                slot.store(usize::from(me), Ordering::Release);
                gicc.pmr.set(0xff);
                gicc.ctlr.set(1);
            }
            Gic::V3 { gicr, .. } => {
                let rd = find_redistributor(*gicr, mpidr).ok_or(GicCpuError::NoRedistributor)?;
                slot.store(core::ptr::from_ref(rd).addr(), Ordering::Release);
                rd.waker.set(rd.waker.get() & !GICR_WAKER_PROCESSOR_SLEEP);
                while rd.waker.get() & GICR_WAKER_CHILDREN_ASLEEP != 0 {
                    core::hint::spin_loop();
                }
                // SAFETY: enabling the system-register CPU interface and unmasking all
                // priorities for group 1 only changes how this CPU takes interrupts.
                unsafe {
                    core::arch::asm!(
                        "msr icc_sre_el1, {sre}", "isb",
                        "msr icc_pmr_el1, {pmr}",
                        "msr icc_igrpen1_el1, {en}", "isb",
                        sre = in(reg) 1u64, pmr = in(reg) 0xffu64, en = in(reg) 1u64,
                        options(nostack, preserves_flags)
                    );
                }
            }
        }
        Ok(())
    }

    /// This CPU's redistributor (GICv3, after `init_cpu`).
    fn own_redistributor(&self) -> Option<&'static GicrRegs> {
        let addr = PER_CPU.get(cpu_data::cpu_number() as usize)?.load(Ordering::Acquire);
        // SAFETY: a non-zero slot holds the address of this CPU's redistributor, found in the
        // mapped region by `init_cpu` (see `find_redistributor`).
        (addr != 0).then(|| unsafe { &*(addr as *const GicrRegs) })
    }

    /// Let `intid` through: an SGI or PPI to this CPU (they are banked per CPU: each CPU
    /// enables its own), an SPI to the boot CPU.
    pub fn enable(&self, intid: u32) {
        let (word, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
        match self {
            Gic::V2 { gicd, .. } => {
                if let Some(p) = gicd.ipriorityr.get(intid as usize) {
                    p.set(DEFAULT_PRIORITY);
                }
                if intid >= SPI_BASE
                    && let Some(t) = gicd.itargetsr.get(intid as usize)
                {
                    t.set(1); // CPU interface 0
                }
                if let Some(r) = gicd.isenabler.get(word) {
                    r.set(bit);
                }
            }
            Gic::V3 { gicd, .. } => {
                if intid < SPI_BASE {
                    let Some(rd) = self.own_redistributor() else { return };
                    rd.igroupr0.set(rd.igroupr0.get() | bit);
                    if let Some(p) = rd.ipriorityr.get(intid as usize) {
                        p.set(DEFAULT_PRIORITY);
                    }
                    rd.isenabler0.set(bit);
                } else {
                    if let Some(g) = gicd.igroupr.get(word) {
                        g.set(g.get() | bit);
                    }
                    if let Some(p) = gicd.ipriorityr.get(intid as usize) {
                        p.set(DEFAULT_PRIORITY);
                    }
                    if let Some(r) = gicd.irouter.get((intid - SPI_BASE) as usize) {
                        r.set(cpu_data::all_cpus()[0].mpidr()); // the boot CPU
                    }
                    if let Some(r) = gicd.isenabler.get(word) {
                        r.set(bit);
                    }
                }
            }
        }
    }

    /// Send SGI `intid` to the CPU numbered `cpu` (which has run `init_cpu`; otherwise
    /// nothing is sent). Stores made before the call are visible to the target's handler.
    pub fn send_sgi(&self, cpu: u32, intid: u32) {
        debug_assert!(intid < SGI_COUNT);
        let Some(target) = cpu_data::all_cpus().get(cpu as usize) else { return };
        let Some(slot) = PER_CPU.get(cpu as usize) else { return };
        let own = slot.load(Ordering::Acquire);
        if own == 0 {
            return;
        }
        match self {
            Gic::V2 { gicd, .. } => {
                let value = (own as u32 & 0xff) << GICD_SGIR_TARGETS_SHIFT | intid;
                let sgir = (core::ptr::from_ref(*gicd).addr() + GICD_SGIR_OFFSET) as *mut u32;
                // SAFETY: GICD_SGIR is a write-only register of the mapped distributor; the
                // barrier orders our earlier stores before the interrupt they announce.
                unsafe {
                    core::arch::asm!("dsb ishst", options(nostack, preserves_flags));
                    sgir.write_volatile(value);
                }
            }
            Gic::V3 { .. } => {
                let mpidr = target.mpidr();
                let (aff0, aff1, aff2, aff3) =
                    (mpidr & 0xff, (mpidr >> 8) & 0xff, (mpidr >> 16) & 0xff, (mpidr >> 32) & 0xff);
                if aff0 >= 16 {
                    // Range selectors (RS) would be needed; QEMU's virt never numbers so far.
                    return;
                }
                let value = (1u64 << aff0)
                    | aff1 << SGI1R_AFF1_SHIFT
                    | u64::from(intid) << SGI1R_INTID_SHIFT
                    | aff2 << SGI1R_AFF2_SHIFT
                    | aff3 << SGI1R_AFF3_SHIFT;
                // SAFETY: writing ICC_SGI1R_EL1 only raises an SGI at the target; the barrier
                // orders our earlier stores before it.
                unsafe {
                    core::arch::asm!("dsb ishst", "msr icc_sgi1r_el1, {}", "isb", in(reg) value,
                        options(nostack, preserves_flags))
                };
            }
        }
    }
    /// Acknowledge the highest-priority pending interrupt, if any.
    pub fn ack(&self) -> Option<u32> {
        let intid = match self {
            Gic::V2 { gicc, .. } => gicc.iar.get() & 0x3ff,
            Gic::V3 { .. } => {
                let v: u64;
                // SAFETY: reading ICC_IAR1_EL1 acknowledges the interrupt we then handle.
                unsafe {
                    core::arch::asm!("mrs {}, icc_iar1_el1", out(reg) v, options(nostack, preserves_flags))
                };
                (v & 0xff_ffff) as u32
            }
        };
        (intid < INTID_SPECIAL_FIRST).then_some(intid)
    }

    /// Signal the end of handling `intid`.
    pub fn eoi(&self, intid: u32) {
        match self {
            Gic::V2 { gicc, .. } => gicc.eoir.set(intid),
            // SAFETY: writing ICC_EOIR1_EL1 completes the interrupt we acknowledged.
            Gic::V3 { .. } => unsafe {
                core::arch::asm!("msr icc_eoir1_el1, {}", in(reg) intid as u64, options(nostack, preserves_flags))
            },
        }
    }
}

/// The redistributor whose affinity is `mpidr`, in the mapped region `[start, end)`.
fn find_redistributor((start, end): (usize, usize), mpidr: u64) -> Option<&'static GicrRegs> {
    let want = (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 24;
    let mut at = start;
    while at + 2 * GICR_FRAME <= end {
        // SAFETY: `[at, at + 128 KiB)` lies in the redistributor region the caller of
        // `new_v3` mapped; every redistributor begins with RD_base and SGI_base frames.
        let rd: &'static GicrRegs = unsafe { &*(at as *const GicrRegs) };
        let typer = rd.typer.get();
        if typer >> GICR_TYPER_AFFINITY_SHIFT == want {
            return Some(rd);
        }
        if typer & GICR_TYPER_LAST != 0 {
            return None;
        }
        at += if typer & GICR_TYPER_VLPIS != 0 { 4 } else { 2 } * GICR_FRAME;
    }
    None
}
