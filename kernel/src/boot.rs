//! The first instructions: the arm64 Image header, the EL2 → EL1 drop, FP/SIMD, BSS, the boot
//! page tables and the jump into the upper half, then `kernel_entry` in Rust. And the same
//! path, shorter, for a secondary CPU that PSCI starts (`secondary_entry` → `secondary_main`).
//!
//! The boot tables are deliberately crude and position independent: L0[0] (the direct map at
//! `PHYS_MAP_BASE`) and L0[511] (the kernel image) both point at one L1 table of 1 GiB blocks,
//! Device-nGnRE everywhere except the gigabyte the kernel was loaded into, which is Normal
//! memory. That is enough to reach the UART, the DTB and the image; `memory::init` replaces
//! them with the real kernel tables as soon as the DTB has been read. They stay in place after
//! that: their identity half (TTBR0) is what a secondary CPU runs on while it turns its MMU on.

use core::arch::global_asm;

/// MAIR_EL1: attribute 0 Device-nGnRE, 1 Normal write-back RW-allocate, 2 Normal non-cacheable
/// (ARM ARM D19.2 MAIR_EL1). The indices are `osfmk::arm64::pmap::MemAttr`.
const MAIR: u64 = 0x04 | (0xff << 8) | (0x44 << 16);
/// TCR_EL1: 48-bit VAs in both halves (T0SZ = T1SZ = 16), 4 KiB granules, inner-shareable
/// write-back walks, 16-bit ASIDs taken from TTBR0. IPS is filled in from ID_AA64MMFR0_EL1.
const TCR: u64 = 16
    | (1 << 8)
    | (1 << 10)
    | (3 << 12)
    | (16 << 16)
    | (1 << 24)
    | (1 << 26)
    | (3 << 28)
    | (2 << 30)
    | (1 << 36);
/// SCTLR_EL1: MMU, caches, stack alignment checks, the v8.0 RES1 bits, and EL0 access to
/// WFI/WFE, CTR_EL0 and DC ZVA (ARM ARM D19.2 SCTLR_EL1).
const SCTLR: u64 =
    0x30D0_0800 | 1 | (1 << 2) | (1 << 3) | (1 << 12) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 18);
/// A 1 GiB block: Normal (attr 1), inner shareable, accessed, EL1 RW, not EL0 executable.
const BOOT_NORMAL_BLOCK: u64 = 1 | (1 << 2) | (3 << 8) | (1 << 10) | (1 << 54);
/// A 1 GiB block: Device-nGnRE (attr 0), accessed, never executable.
const BOOT_DEVICE_BLOCK: u64 = 1 | (1 << 10) | (1 << 53) | (1 << 54);

global_asm!(
    r#"
.section .text.boot, "ax"
// Leaves x20 = the exception level we were entered at. At EL2: run EL1 in AArch64, give it
// the timers, and drop to EL1h with DAIF masked. Then FP/SIMD on for EL1 and EL0.
.macro ENTER_EL1
    mrs     x20, CurrentEL
    lsr     x20, x20, #2
    cmp     x20, #2
    b.ne    2f
    mov     x1, #(1 << 31)
    msr     hcr_el2, x1
    // With FEAT_HCX (ID_AA64MMFR1_EL1.HCX), clear HCRX_EL2: among other things TCR2En=0
    // makes TCR2_EL1 read as 0, so no table-descriptor bit is ever written by hardware
    // (FEAT_HAFT) and the pmap may keep software bits there (osfmk/src/arm64/pmap.rs).
    mrs     x1, id_aa64mmfr1_el1
    ubfx    x1, x1, #40, #4
    cbz     x1, 8f
    msr     s3_4_c1_c2_2, xzr       // HCRX_EL2
8:
    mov     x1, #3
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    mov     x1, #0x3c5
    msr     spsr_el2, x1
    adr     x1, 2f
    msr     elr_el2, x1
    eret
2:
    mov     x1, #(3 << 20)          // CPACR_EL1.FPEN: FP/SIMD for EL0 (and EL1)
    msr     cpacr_el1, x1
    isb
.endm

.global _start
_start:
    // arm64 Image header, so the same file boots as `-kernel Image` (Linux boot protocol).
    b       1f
    .long   0
    .quad   __text_offset
    .quad   __image_size
    .quad   0x2                     // little endian, 4 KiB pages
    .quad   0, 0, 0
    .long   0x644d5241              // "ARM\x64"
    .long   0
1:
    .cfi_sections .debug_frame
    .cfi_startproc
    .cfi_undefined x30
    mov     x19, x0                 // DTB pointer (Image boot) or 0 (ELF boot)
    ENTER_EL1
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __image_end
    add     x2, x2, :lo12:__image_end
3:  cmp     x1, x2
    b.hs    4f
    str     xzr, [x1], #8
    b       3b
4:
    adrp    x1, __boot_l0
    adrp    x2, __boot_l1
    orr     x3, x2, #3              // table descriptor
    str     x3, [x1]
    str     x3, [x1, #(511 * 8)]
    ldr     x4, ={device}
    mov     x5, #0
5:  lsl     x6, x5, #30
    orr     x6, x6, x4
    str     x6, [x2, x5, lsl #3]
    add     x5, x5, #1
    cmp     x5, #512
    b.lo    5b
    adr     x6, _start
    lsr     x5, x6, #30
    lsl     x6, x5, #30
    ldr     x4, ={normal}
    orr     x6, x6, x4
    str     x6, [x2, x5, lsl #3]
    ldr     x1, ={mair}
    msr     mair_el1, x1
    ldr     x1, ={tcr}
    mrs     x2, id_aa64mmfr0_el1
    and     x2, x2, #7
    bfi     x1, x2, #32, #3
    msr     tcr_el1, x1
    adrp    x1, __boot_l0
    msr     ttbr0_el1, x1
    msr     ttbr1_el1, x1
    dsb     ish
    tlbi    vmalle1
    dsb     ish
    isb
    ldr     x1, ={sctlr}
    msr     sctlr_el1, x1
    isb
    ldr     x1, =6f
    br      x1
6:
    ldr     x1, =__boot_stack_top
    mov     sp, x1
    mov     x0, x19
    mov     x1, x20
    mov     x29, xzr
    mov     x30, xzr
    bl      kernel_entry
7:  wfe
    b       7b
    .cfi_endproc

// A secondary CPU, started by PSCI CPU_ON with the MMU off and x0 = the physical address of
// its `SecondaryStart`. It takes the boot CPU's MMU settings and kernel tables (TTBR1), runs
// from the identity half of the boot tables (TTBR0) just long enough to jump to the upper
// half, and calls `secondary_main` on the stack it was given.
.global secondary_entry
secondary_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov     x19, x0
    ENTER_EL1
    ldr     x1, [x19, #{start_mair}]
    msr     mair_el1, x1
    ldr     x1, [x19, #{start_tcr}]
    msr     tcr_el1, x1
    adrp    x1, __boot_l0
    msr     ttbr0_el1, x1
    ldr     x1, [x19, #{start_ttbr1}]
    msr     ttbr1_el1, x1
    dsb     ish
    tlbi    vmalle1
    dsb     ish
    isb
    ldr     x1, [x19, #{start_sctlr}]
    msr     sctlr_el1, x1
    isb
    ldr     x1, =9f
    br      x1
9:
    ldr     x1, =KERNEL_VIRT_OFFSET
    add     x19, x19, x1
    ldr     x1, [x19, #{start_stack}]
    mov     sp, x1
    ldr     x0, [x19, #{start_cpu}]
    mov     x1, x20
    mov     x29, xzr
    mov     x30, xzr
    bl      secondary_main
10: wfe
    b       10b
    .cfi_endproc
"#,
    device = const BOOT_DEVICE_BLOCK,
    normal = const BOOT_NORMAL_BLOCK,
    mair = const MAIR,
    tcr = const TCR,
    sctlr = const SCTLR,
    start_ttbr1 = const core::mem::offset_of!(SecondaryStart, ttbr1),
    start_tcr = const core::mem::offset_of!(SecondaryStart, tcr),
    start_mair = const core::mem::offset_of!(SecondaryStart, mair),
    start_sctlr = const core::mem::offset_of!(SecondaryStart, sctlr),
    start_stack = const core::mem::offset_of!(SecondaryStart, stack_top),
    start_cpu = const core::mem::offset_of!(SecondaryStart, cpu_number),
);

/// What a secondary CPU needs before it can run Rust code, read by `secondary_entry` with the
/// MMU (and so the caches) off: the boot CPU writes it, cleans it to the point of coherency,
/// then starts the CPU (`smp::start_secondaries`).
#[repr(C, align(64))]
pub struct SecondaryStart {
    /// The kernel's translation tables (TTBR1_EL1).
    pub ttbr1: u64,
    /// TCR_EL1, MAIR_EL1 and SCTLR_EL1 as the boot CPU has them.
    pub tcr: u64,
    pub mair: u64,
    pub sctlr: u64,
    /// The stack `secondary_main` runs on (the top of the CPU's idle thread's kernel stack).
    pub stack_top: u64,
    /// The CPU's number (its per-CPU block).
    pub cpu_number: u64,
}

const _: () = assert!(core::mem::size_of::<SecondaryStart>() <= 64);

impl SecondaryStart {
    pub const fn zeroed() -> SecondaryStart {
        SecondaryStart { ttbr1: 0, tcr: 0, mair: 0, sctlr: 0, stack_top: 0, cpu_number: 0 }
    }
}

unsafe extern "C" {
    static secondary_entry: u8;
}

/// The virtual address of `secondary_entry` (the caller turns it into a physical one).
pub fn secondary_entry_addr() -> u64 {
    // SAFETY: only the address of the assembly symbol is taken.
    unsafe { &secondary_entry as *const u8 as u64 }
}
