//! The services the BSD half asks of the kernel image: the console and power-off.

use alloc::sync::Arc;

use bsd::kern::bsd_init::{BsdPlatform, Identity};
use osfmk::arm64::pmap::phys_to_virt;
use osfmk::kern::task::Task;

use crate::drivers::psci::{self, Conduit};
use crate::platform::PlatformInfo;

struct Platform {
    psci: Option<Conduit>,
    /// Seconds since the epoch from the RTC, and the counter value when it was read.
    boot_wall_clock: (u64, u64),
}

static PLATFORM: spin::Once<Platform> = spin::Once::new();

impl BsdPlatform for Platform {
    fn console_write(&self, bytes: &[u8]) {
        crate::console::write_bytes(bytes);
    }

    fn console_read_line(&self, buf: &mut [u8]) -> Option<usize> {
        crate::console::read_line(buf)
    }

    fn console_input_waitq(&self) -> &'static osfmk::kern::waitq::WaitQueue {
        &crate::console::INPUT_WAITQ
    }

    fn boot_wall_clock(&self) -> (u64, u64) {
        self.boot_wall_clock
    }

    fn halt(&self) -> ! {
        psci::system_off(self.psci)
    }
}

/// Start BSD with the initrd QEMU loaded (found through `/chosen`).
pub fn bsd_init(info: &PlatformInfo, kernel_task: Arc<Task>) {
    let boot_wall_clock = info.rtc.map_or((0, 0), |(start, _)| {
        // SAFETY: the RTC's registers come from the DTB and are mapped as device memory by
        // `memory::init_kernel_pmap`.
        let secs = unsafe { crate::drivers::pl031::read_seconds(phys_to_virt(start) as usize) };
        (secs, osfmk::kern::clock::mach_absolute_time())
    });
    let platform = PLATFORM.call_once(|| Platform { psci: info.psci, boot_wall_clock });
    let initrd = info.initrd.map(|(start, end)| {
        // SAFETY: the initrd range comes from the DTB, is RAM reserved from the frame pool
        // (so nothing else writes it), and is mapped by the direct map for the kernel's life.
        unsafe { core::slice::from_raw_parts(phys_to_virt(start) as *const u8, (end - start) as usize) }
    });
    let version = alloc::format!(
        "{} Version {}: {} (aarch64)",
        crate::KERNEL_NAME,
        crate::KERNEL_VERSION,
        env!("CARGO_PKG_DESCRIPTION")
    );
    // The device tree's seeds and the generic counter now seed the random device.
    let mut entropy = info.rng_seed.clone();
    entropy.extend_from_slice(&osfmk::kern::clock::mach_absolute_time().to_le_bytes());
    let identity = Identity {
        ostype: crate::KERNEL_NAME,
        release: crate::KERNEL_VERSION,
        version: &version,
        memsize: info.memory_size(),
        entropy: &entropy,
    };
    bsd::kern::bsd_init::bsd_init(platform, kernel_task, initrd, &info.bootargs, identity);
}
