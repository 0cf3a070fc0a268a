//! Arm semihosting: how test builds (and panics) end QEMU with a status code.
//! QEMU must run with `-semihosting`; the scripts always pass it.

/// `SYS_EXIT` operation number (Arm semihosting specification, §6.5).
const SYS_EXIT: u32 = 0x18;
/// `ADP_Stopped_ApplicationExit`: a normal exit carrying a status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Exit QEMU with `code` (QEMU's status is `code & 0xff`).
pub fn exit(code: u32) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    // SAFETY: the semihosting call reads the two-word block we pass and does not return
    // when QEMU honours it.
    unsafe {
        core::arch::asm!("hlt #0xf000", in("w0") SYS_EXIT, in("x1") block.as_ptr(), options(nostack));
    }
    loop {
        osfmk::arm64::cpu::wait_for_interrupt();
    }
}
