//! The kernel's `memcpy`, `memmove` and `memset`, which the compiler calls for every copy,
//! move and fill it does not inline (structure moves, slice copies, zeroed buffers).
//!
//! They replace the generic ones of `compiler_builtins` (weak symbols), which copy a word at a
//! time and, when source and destination are differently aligned, shift and merge words at
//! about three instructions a byte. Here every size moves 64 bytes a round with `ldp`/`stp`
//! whatever the alignment: the kernel runs with SCTLR_EL1.A clear, so unaligned accesses to
//! Normal memory are architecturally fine (Arm ARM B2.5). MMIO never goes through these (it
//! uses volatile register types), but until the kernel's own tables are in (see
//! [`all_ram_is_normal`]) the boot tables map every gigabyte of RAM but the kernel's as
//! Device memory, where an unaligned access faults: until then the three copy byte by byte.
//!
//! Register use follows the AAPCS64: arguments in x0–x2, x0 returned unchanged, and only the
//! caller-saved x3–x11 and the flags are clobbered.

use core::sync::atomic::{AtomicU8, Ordering};

/// 1 once all RAM is mapped Normal (the kernel pmap is installed); read by the assembly.
static RAM_IS_NORMAL: AtomicU8 = AtomicU8::new(0);

/// Called once the kernel's tables, which map all RAM as Normal memory, are in use: from now
/// on the copies may use unaligned wide accesses.
pub fn all_ram_is_normal() {
    RAM_IS_NORMAL.store(1, Ordering::Release);
}

/// Whether [`all_ram_is_normal`] has been called.
pub fn ram_is_normal() -> bool {
    RAM_IS_NORMAL.load(Ordering::Acquire) != 0
}

core::arch::global_asm!(
    r#"
.section .text.memcpy, "ax"
.global memcpy
.type memcpy, %function
.p2align 4
// memcpy(dst x0, src x1, n x2) -> dst: forward, 64 bytes a round, then 16, 8 and 1.
memcpy:
    mov     x3, x0
    adrp    x4, {normal}
    ldrb    w4, [x4, :lo12:{normal}]
    cbz     w4, 8f
1:  cmp     x2, #64
    b.lo    2f
    ldp     x4, x5, [x1]
    ldp     x6, x7, [x1, #16]
    ldp     x8, x9, [x1, #32]
    ldp     x10, x11, [x1, #48]
    add     x1, x1, #64
    sub     x2, x2, #64
    stp     x4, x5, [x3]
    stp     x6, x7, [x3, #16]
    stp     x8, x9, [x3, #32]
    stp     x10, x11, [x3, #48]
    add     x3, x3, #64
    b       1b
2:  cmp     x2, #16
    b.lo    3f
    ldp     x4, x5, [x1], #16
    sub     x2, x2, #16
    stp     x4, x5, [x3], #16
    b       2b
3:  tbz     x2, #3, 4f
    ldr     x4, [x1], #8
    str     x4, [x3], #8
4:  tbz     x2, #2, 5f
    ldr     w4, [x1], #4
    str     w4, [x3], #4
5:  tbz     x2, #1, 6f
    ldrh    w4, [x1], #2
    strh    w4, [x3], #2
6:  tbz     x2, #0, 7f
    ldrb    w4, [x1]
    strb    w4, [x3]
7:  ret
    // Early boot: a byte at a time (every byte access is aligned).
8:  cbz     x2, 7b
    ldrb    w4, [x1], #1
    sub     x2, x2, #1
    strb    w4, [x3], #1
    b       8b
.size memcpy, . - memcpy

.section .text.memmove, "ax"
.global memmove
.type memmove, %function
.p2align 4
// memmove(dst x0, src x1, n x2) -> dst: forward (memcpy) unless dst lies inside
// (src, src + n), then backward from the end, 16 bytes a round, then 1.
memmove:
    sub     x3, x0, x1
    cmp     x3, x2
    b.hs    4f
    add     x1, x1, x2
    add     x3, x0, x2
    adrp    x4, {normal}
    ldrb    w4, [x4, :lo12:{normal}]
    cbz     w4, 2f
1:  cmp     x2, #16
    b.lo    2f
    ldp     x4, x5, [x1, #-16]!
    sub     x2, x2, #16
    stp     x4, x5, [x3, #-16]!
    b       1b
2:  cbz     x2, 3f
    ldrb    w4, [x1, #-1]!
    sub     x2, x2, #1
    strb    w4, [x3, #-1]!
    b       2b
3:  ret
    // Forward is safe: an unconditional branch, which the linker can always reach.
4:  b       memcpy
.size memmove, . - memmove

.section .text.memset, "ax"
.global memset
.type memset, %function
.p2align 4
// memset(dst x0, c w1, n x2) -> dst: the byte repeated across a register, 64 bytes a round.
memset:
    and     x4, x1, #0xff
    orr     x4, x4, x4, lsl #8
    orr     x4, x4, x4, lsl #16
    orr     x4, x4, x4, lsl #32
    mov     x3, x0
    adrp    x5, {normal}
    ldrb    w5, [x5, :lo12:{normal}]
    cbz     w5, 8f
1:  cmp     x2, #64
    b.lo    2f
    stp     x4, x4, [x3]
    stp     x4, x4, [x3, #16]
    stp     x4, x4, [x3, #32]
    stp     x4, x4, [x3, #48]
    add     x3, x3, #64
    sub     x2, x2, #64
    b       1b
2:  cmp     x2, #16
    b.lo    3f
    stp     x4, x4, [x3], #16
    sub     x2, x2, #16
    b       2b
3:  tbz     x2, #3, 4f
    str     x4, [x3], #8
4:  tbz     x2, #2, 5f
    str     w4, [x3], #4
5:  tbz     x2, #1, 6f
    strh    w4, [x3], #2
6:  tbz     x2, #0, 7f
    strb    w4, [x3]
7:  ret
    // Early boot: a byte at a time.
8:  cbz     x2, 7b
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       8b
.size memset, . - memset
"#,
    normal = sym RAM_IS_NORMAL,
);
