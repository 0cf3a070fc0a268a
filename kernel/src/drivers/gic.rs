//! The Arm Generic Interrupt Controller, version 2 or 3, whichever the DTB describes.
//!
//! Register offsets: GICv2 from the GIC Architecture Specification v2 (IHI 0048B) §4.1;
//! GICv3 from IHI 0069 §12 (distributor), §12.10 (redistributor) and the ICC_* system
//! registers. Only group-1 non-secure interrupts routed to this CPU are used.

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
        (0x00014 => waker: ReadWrite<u32>),
        (0x00018 => _reserved1),
        (0x10080 => igroupr0: ReadWrite<u32>),
        (0x10084 => _reserved2),
        (0x10100 => isenabler0: ReadWrite<u32>),
        (0x10104 => _reserved3),
        (0x10400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x10420 => @END),
    }
}

const GICD_CTLR_ENABLE_GRP0: u32 = 1 << 0;
const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;
const GICD_CTLR_ARE: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// INTIDs 1020–1023 are special: 1023 means "nothing pending".
const INTID_SPECIAL_FIRST: u32 = 1020;
/// Priority given to every interrupt we enable (lower is more urgent; all equal here).
const DEFAULT_PRIORITY: u8 = 0xa0;
/// First shared peripheral interrupt; below are SGIs and PPIs (banked per CPU).
const SPI_BASE: u32 = 32;

/// Which GIC and where its frames are mapped.
pub enum Gic {
    V2 { gicd: &'static GicdRegs, gicc: &'static GiccRegs },
    V3 { gicd: &'static GicdRegs, gicr: &'static GicrRegs },
}

// SAFETY: the register frames are MMIO owned by this driver, valid for 'static.
unsafe impl Send for Gic {}
// SAFETY: shared use is sound register by register: the distributor is configured by
// `init` before anything else can reach the instance, and later only through the
// write-one-to-set enable registers (GICD_ISENABLERn), which need no read-modify-write;
// acknowledge and end-of-interrupt go to the CPU interface, which is banked per CPU (the
// GICv2 GICC frame decodes per accessing CPU, GICv3 uses this CPU's ICC system registers).
unsafe impl Sync for Gic {}

impl Gic {
    /// # Safety
    /// `gicd` and `gicc` must be the mapped (device memory) virtual addresses of a GICv2's
    /// distributor and CPU interface, valid for 'static and driven by no one else.
    pub unsafe fn new_v2(gicd: usize, gicc: usize) -> Gic {
        // SAFETY: per the function contract.
        unsafe { Gic::V2 { gicd: &*(gicd as *const GicdRegs), gicc: &*(gicc as *const GiccRegs) } }
    }

    /// # Safety
    /// `gicd` and `gicr` must be the mapped virtual addresses of a GICv3's distributor and
    /// of this CPU's redistributor, valid for 'static and driven by no one else.
    pub unsafe fn new_v3(gicd: usize, gicr: usize) -> Gic {
        // SAFETY: per the function contract.
        unsafe { Gic::V3 { gicd: &*(gicd as *const GicdRegs), gicr: &*(gicr as *const GicrRegs) } }
    }

    /// Bring up the distributor and this CPU's interface.
    pub fn init(&self) {
        match self {
            Gic::V2 { gicd, gicc } => {
                gicd.ctlr.set(GICD_CTLR_ENABLE_GRP0);
                gicc.pmr.set(0xff);
                gicc.ctlr.set(1);
            }
            Gic::V3 { gicd, gicr } => {
                gicd.ctlr.set(GICD_CTLR_ARE | GICD_CTLR_ENABLE_GRP1 | GICD_CTLR_ENABLE_GRP0);
                while gicd.ctlr.get() & GICD_CTLR_RWP != 0 {
                    core::hint::spin_loop();
                }
                gicr.waker.set(gicr.waker.get() & !GICR_WAKER_PROCESSOR_SLEEP);
                while gicr.waker.get() & GICR_WAKER_CHILDREN_ASLEEP != 0 {
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
    }

    /// Let `intid` through to this CPU.
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
            Gic::V3 { gicd, gicr } => {
                if intid < SPI_BASE {
                    gicr.igroupr0.set(gicr.igroupr0.get() | bit);
                    if let Some(p) = gicr.ipriorityr.get(intid as usize) {
                        p.set(DEFAULT_PRIORITY);
                    }
                    gicr.isenabler0.set(bit);
                } else {
                    if let Some(g) = gicd.igroupr.get(word) {
                        g.set(g.get() | bit);
                    }
                    if let Some(p) = gicd.ipriorityr.get(intid as usize) {
                        p.set(DEFAULT_PRIORITY);
                    }
                    if let Some(r) = gicd.irouter.get((intid - SPI_BASE) as usize) {
                        r.set(0); // affinity 0.0.0.0: the boot CPU
                    }
                    if let Some(r) = gicd.isenabler.get(word) {
                        r.set(bit);
                    }
                }
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
