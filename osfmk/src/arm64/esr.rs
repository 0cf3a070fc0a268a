//! Decoding ESR_EL1, the exception syndrome (ARM ARM D19.2.37, "ESR_ELx").

/// Exception classes this kernel distinguishes (ESR_EL1.EC, bits 31:26).
pub mod ec {
    pub const UNKNOWN: u32 = 0x00;
    pub const WFX: u32 = 0x01;
    pub const FP_ACCESS: u32 = 0x07;
    pub const ILLEGAL_STATE: u32 = 0x0e;
    pub const SVC64: u32 = 0x15;
    pub const HVC64: u32 = 0x16;
    pub const SMC64: u32 = 0x17;
    pub const SYSREG: u32 = 0x18;
    pub const IABT_LOWER: u32 = 0x20;
    pub const IABT_CURRENT: u32 = 0x21;
    pub const PC_ALIGN: u32 = 0x22;
    pub const DABT_LOWER: u32 = 0x24;
    pub const DABT_CURRENT: u32 = 0x25;
    pub const SP_ALIGN: u32 = 0x26;
    pub const FP_EXC64: u32 = 0x2c;
    pub const SERROR: u32 = 0x2f;
    pub const BREAKPOINT_LOWER: u32 = 0x30;
    pub const BREAKPOINT_CURRENT: u32 = 0x31;
    pub const SOFTSTEP_LOWER: u32 = 0x32;
    pub const SOFTSTEP_CURRENT: u32 = 0x33;
    pub const WATCHPOINT_LOWER: u32 = 0x34;
    pub const WATCHPOINT_CURRENT: u32 = 0x35;
    pub const BRK64: u32 = 0x3c;
}

/// A decoded syndrome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    /// The exception class.
    pub const fn ec(self) -> u32 {
        ((self.0 >> 26) & 0x3f) as u32
    }

    /// The instruction-specific syndrome.
    pub const fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    /// For aborts: was it a write (ISS.WnR)?
    pub const fn is_write(self) -> bool {
        self.iss() & (1 << 6) != 0
    }

    /// For aborts: the fault status code (ISS.DFSC/IFSC).
    pub const fn fault_status(self) -> u32 {
        self.iss() & 0x3f
    }

    /// The name of the exception class, for panics and logs.
    pub const fn class_name(self) -> &'static str {
        match self.ec() {
            ec::UNKNOWN => "Unknown reason (undefined instruction)",
            ec::WFX => "WFI/WFE trapped",
            ec::FP_ACCESS => "FP/SIMD access trapped",
            ec::ILLEGAL_STATE => "Illegal execution state",
            ec::SVC64 => "SVC in AArch64",
            ec::HVC64 => "HVC in AArch64",
            ec::SMC64 => "SMC in AArch64",
            ec::SYSREG => "MSR/MRS/system instruction trapped",
            ec::IABT_LOWER => "Instruction abort from a lower EL",
            ec::IABT_CURRENT => "Instruction abort at the same EL",
            ec::PC_ALIGN => "PC alignment fault",
            ec::DABT_LOWER => "Data abort from a lower EL",
            ec::DABT_CURRENT => "Data abort at the same EL",
            ec::SP_ALIGN => "SP alignment fault",
            ec::FP_EXC64 => "Floating-point exception",
            ec::SERROR => "SError interrupt",
            ec::BREAKPOINT_LOWER | ec::BREAKPOINT_CURRENT => "Hardware breakpoint",
            ec::SOFTSTEP_LOWER | ec::SOFTSTEP_CURRENT => "Software step",
            ec::WATCHPOINT_LOWER | ec::WATCHPOINT_CURRENT => "Watchpoint",
            ec::BRK64 => "BRK instruction",
            _ => "Unrecognised exception class",
        }
    }

    /// The name of an abort's fault status code.
    pub const fn fault_name(self) -> &'static str {
        match self.fault_status() {
            0b000000..=0b000011 => "address size fault",
            0b000100..=0b000111 => "translation fault",
            0b001001..=0b001011 => "access flag fault",
            0b001101..=0b001111 => "permission fault",
            0b010000 => "synchronous external abort",
            0b100001 => "alignment fault",
            _ => "other fault",
        }
    }

    /// For aborts: a translation, access-flag or permission fault — the kinds the VM
    /// resolves (as opposed to alignment or external aborts).
    pub const fn is_mmu_fault(self) -> bool {
        matches!(self.fault_status(), 0b000100..=0b000111 | 0b001001..=0b001011 | 0b001101..=0b001111)
    }

    /// Translation-table level the abort happened at (for translation/permission faults).
    pub const fn fault_level(self) -> u32 {
        self.fault_status() & 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_classes_and_aborts() {
        // A write permission fault at level 3, from EL1.
        let e = Esr((0x25 << 26) | (1 << 25) | (1 << 6) | 0b001111);
        assert_eq!(e.ec(), ec::DABT_CURRENT);
        assert_eq!(e.class_name(), "Data abort at the same EL");
        assert!(e.is_write());
        assert_eq!(e.fault_name(), "permission fault");
        assert_eq!(e.fault_level(), 3);
        assert!(e.is_mmu_fault());
        assert!(!Esr((0x24 << 26) | 0b100001).is_mmu_fault(), "alignment fault");
        assert_eq!(Esr(0x5600_0080).ec(), ec::SVC64);
        assert_eq!(Esr(0x5600_0080).class_name(), "SVC in AArch64");
        assert_eq!(Esr(0x0200_0000).class_name(), "Unknown reason (undefined instruction)");
        // The GICv2-on-v3 abort the notes describe: a translation... (ISS 0x50: external abort).
        assert_eq!(Esr(0x9600_0050).fault_name(), "synchronous external abort");
    }
}
