//! The kernel console: `kprintln!` to the PL011, and the input buffer its receive interrupt
//! fills and `read(0, …)` drains.

use core::fmt::{self, Write};

use osfmk::kern::lock_order;
use osfmk::kern::locks::SpinLock;
use osfmk::kern::waitq::WaitQueue;

use crate::drivers::pl011::Pl011;

static UART: SpinLock<Option<Pl011>> = SpinLock::new(&lock_order::CONSOLE_UART, None);

/// Bytes typed but not yet read (a ring; when full, new input is dropped, like a UART FIFO).
struct InputRing {
    buf: [u8; 1024],
    head: usize,
    len: usize,
}

static INPUT: SpinLock<InputRing> =
    SpinLock::new(&lock_order::CONSOLE_INPUT, InputRing { buf: [0; 1024], head: 0, len: 0 });

/// Readers of the console wait here for a line; the receive interrupt wakes them.
pub static INPUT_WAITQ: WaitQueue = WaitQueue::new();

/// Start using the UART at virtual address `base`.
///
/// # Safety
/// `base` must map the PL011 named by the DTB, as device memory, for the rest of the
/// kernel's life; only the console drives it.
pub unsafe fn init(base: usize) {
    // SAFETY: forwarded from our contract.
    *UART.lock() = Some(unsafe { Pl011::new(base) });
}

/// Turn on receive interrupts (once the GIC is up), and take whatever was typed before.
pub fn enable_input() {
    if let Some(u) = UART.lock().as_ref() {
        u.enable_rx_interrupts();
    }
    handle_irq();
}

struct ConsoleWriter<'a>(&'a Pl011);

impl Write for ConsoleWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.putc(b'\r');
            }
            self.0.putc(b);
        }
        Ok(())
    }
}

/// Write raw bytes (user `write(1, …)`), turning `\n` into `\r\n` as a tty's output does.
pub fn write_bytes(bytes: &[u8]) {
    if let Some(u) = UART.lock().as_ref() {
        for &b in bytes {
            if b == b'\n' {
                u.putc(b'\r');
            }
            u.putc(b);
        }
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    if let Some(u) = UART.lock().as_ref() {
        let _ = ConsoleWriter(u).write_fmt(args);
    }
}

/// Print from the panic path even if the console lock is held (by the code that panicked).
pub fn panic_print(args: fmt::Arguments<'_>) {
    // If the console lock is held, the holder is the code that panicked on this CPU and
    // nothing else runs; the message is lost rather than risking a deadlock.
    if let Some(g) = UART.try_lock()
        && let Some(u) = g.as_ref()
    {
        let _ = ConsoleWriter(u).write_fmt(args);
    }
}

/// The UART interrupt: move received bytes into the ring, echoing as a tty in canonical
/// mode would, and wake readers at end of line.
pub fn handle_irq() {
    let mut woke = false;
    if let Some(u) = UART.lock().as_ref() {
        while let Some(mut b) = u.getc() {
            if b == b'\r' {
                b = b'\n';
            }
            let mut ring = INPUT.lock();
            if ring.len < ring.buf.len() {
                let idx = (ring.head + ring.len) % ring.buf.len();
                ring.buf[idx] = b;
                ring.len += 1;
            }
            drop(ring);
            if b == b'\n' {
                u.putc(b'\r');
            }
            u.putc(b);
            woke |= b == b'\n';
        }
    }
    if woke {
        INPUT_WAITQ.wakeup_all();
    }
}

/// Take up to `out.len()` bytes of one line; None if no complete line is buffered (the
/// caller may sleep on [`INPUT_WAITQ`]).
pub fn read_line(out: &mut [u8]) -> Option<usize> {
    let mut ring = INPUT.lock();
    let cap = ring.buf.len();
    let line_len = (0..ring.len).find(|&i| ring.buf[(ring.head + i) % cap] == b'\n').map(|i| i + 1);
    let line_len = line_len.or(if ring.len == cap { Some(cap) } else { None })?;
    let n = line_len.min(out.len());
    for slot in out.iter_mut().take(n) {
        *slot = ring.buf[ring.head];
        ring.head = (ring.head + 1) % cap;
        ring.len -= 1;
    }
    Some(n)
}

/// `print!` to the console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

/// `println!` to the console.
#[macro_export]
macro_rules! kprintln {
    () => ($crate::kprint!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
