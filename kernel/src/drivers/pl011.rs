//! The PL011 UART: polled output (usable from the first Rust line) and interrupt-driven input.
//!
//! Registers from the ARM PrimeCell UART (PL011) Technical Reference Manual, r1p5, §3.2.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields! [u32,
    /// Flag register (TRM §3.3.3).
    FR [
        TXFF OFFSET(5) NUMBITS(1) [],
        RXFE OFFSET(4) NUMBITS(1) [],
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Line control (TRM §3.3.7).
    LCR_H [
        WLEN OFFSET(5) NUMBITS(2) [Bits8 = 0b11],
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Control (TRM §3.3.8).
    CR [
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt mask set/clear (TRM §3.3.10).
    INT [
        RTIM OFFSET(6) NUMBITS(1) [],
        RXIM OFFSET(4) NUMBITS(1) []
    ]
];

register_structs! {
    Pl011Regs {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => _reserved2),
        (0x038 => imsc: ReadWrite<u32, INT::Register>),
        (0x03c => _reserved3),
        (0x044 => @END),
    }
}

/// One PL011 at a mapped virtual address.
pub struct Pl011 {
    regs: &'static Pl011Regs,
}

// SAFETY: the register block is MMIO owned by this driver alone; the console keeps the one
// instance behind a lock, so accesses from different threads never interleave.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the virtual address of a PL011's register block, mapped as device memory
    /// for the rest of the kernel's life, and no other `Pl011` may drive the same device.
    pub const unsafe fn new(base: usize) -> Pl011 {
        // SAFETY: the caller guarantees `base` maps a live PL011 register block for 'static.
        Pl011 { regs: unsafe { &*(base as *const Pl011Regs) } }
    }

    /// Write one byte, waiting while the transmit FIFO is full.
    pub fn putc(&self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.set(byte as u32);
    }

    /// Read one byte if the receive FIFO holds one.
    pub fn getc(&self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) { None } else { Some(self.regs.dr.get() as u8) }
    }

    /// 8N1 with FIFOs, and interrupts on receive and receive timeout.
    pub fn enable_rx_interrupts(&self) {
        self.regs.lcr_h.write(LCR_H::WLEN::Bits8 + LCR_H::FEN::SET);
        self.regs.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        self.regs.imsc.write(INT::RXIM::SET + INT::RTIM::SET);
    }
}
