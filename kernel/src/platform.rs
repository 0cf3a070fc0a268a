//! What the machine is, read from the device tree (DESIGN §3 boot step 2): RAM, the PL011,
//! the GIC and its version, the timer interrupts, the PSCI conduit, `/chosen` bootargs and
//! the initrd. Nothing the DTB describes is hard-coded anywhere else.

use alloc::string::String;
use alloc::vec::Vec;

use fdt::Fdt;

use crate::drivers::psci::Conduit;

/// The FDT header magic (Devicetree Specification v0.4 §5.2).
pub const FDT_MAGIC: u32 = 0xd00d_feed;

/// GIC flavours we drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

/// Everything the kernel needs to know about the board.
#[derive(Debug)]
pub struct PlatformInfo {
    /// Physical RAM ranges `[start, end)`.
    pub memory: Vec<(u64, u64)>,
    /// The DTB itself `[start, end)` (kept: it is reserved memory).
    pub dtb: (u64, u64),
    /// PL011 registers (physical) and its interrupt id.
    pub uart: (u64, u64),
    pub uart_irq: Option<u32>,
    /// GIC: version, distributor, and CPU interface (v2) or redistributor (v3), physical.
    pub gic_version: GicVersion,
    pub gicd: (u64, u64),
    pub gicc_or_gicr: (u64, u64),
    /// INTID of the EL1 virtual timer.
    pub vtimer_irq: u32,
    /// PSCI conduit, if the firmware offers PSCI.
    pub psci: Option<Conduit>,
    /// PL031 real-time clock (physical), if present.
    pub rtc: Option<(u64, u64)>,
    /// `/chosen` bootargs.
    pub bootargs: String,
    /// `/chosen` initrd range `[start, end)`.
    pub initrd: Option<(u64, u64)>,
    /// The MPIDR affinity of every CPU under `/cpus`, in the tree's order.
    pub cpus: Vec<u64>,
    /// `/chosen` `rng-seed` and `kaslr-seed`, as given (empty if neither): seeds the random
    /// device.
    // Read only by the BSD glue, which host and ktest builds leave out.
    #[allow(dead_code)]
    pub rng_seed: Vec<u8>,
}

/// Why the DTB could not be used.
#[derive(Debug)]
pub enum PlatformError {
    /// Not a flattened device tree.
    BadDtb,
    /// A node or property the kernel needs is absent.
    Missing(&'static str),
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlatformError::BadDtb => f.write_str("not a valid flattened device tree"),
            PlatformError::Missing(what) => write!(f, "it has no {what}"),
        }
    }
}

/// GIC interrupt specifier cells: type (0 = SPI, 1 = PPI) and number → INTID.
fn gic_intid(kind: usize, number: usize) -> u32 {
    const SPI_BASE: usize = 32;
    const PPI_BASE: usize = 16;
    (if kind == 0 { SPI_BASE + number } else { PPI_BASE + number }) as u32
}

fn first_reg(node: fdt::node::FdtNode<'_, '_>, index: usize) -> Option<(u64, u64)> {
    let r = node.reg()?.nth(index)?;
    let start = r.starting_address as u64;
    Some((start, start + r.size.unwrap_or(0) as u64))
}

/// A property as big-endian 32-bit cells. (`FdtNode::interrupts` needs an
/// `interrupt-parent` on the node itself; QEMU puts it on the root, so we read cells raw.)
fn cells(node: fdt::node::FdtNode<'_, '_>, name: &str) -> Vec<u32> {
    node.property(name).map_or_else(Vec::new, |p| {
        p.value.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()
    })
}

fn chosen_u64(fdt: &Fdt<'_>, name: &str) -> Option<u64> {
    let prop = fdt.find_node("/chosen")?.property(name)?;
    match prop.value.len() {
        4 => Some(u32::from_be_bytes(prop.value.try_into().ok()?) as u64),
        8 => Some(u64::from_be_bytes(prop.value.try_into().ok()?)),
        _ => None,
    }
}

impl PlatformInfo {
    /// Parse the DTB at kernel virtual address `va` (physical `pa`).
    ///
    /// # Safety
    /// `va` must point at readable memory holding a device tree blob that stays intact.
    pub unsafe fn from_dtb(va: u64, pa: u64) -> Result<PlatformInfo, PlatformError> {
        // SAFETY: per the contract, the header is readable; `from_ptr` checks the magic and
        // the size before reading further.
        let fdt = unsafe { Fdt::from_ptr(va as *const u8) }.map_err(|_| PlatformError::BadDtb)?;

        let memory: Vec<(u64, u64)> = fdt
            .memory()
            .regions()
            .filter_map(|r| Some((r.starting_address as u64, r.starting_address as u64 + r.size? as u64)))
            .collect();
        if memory.is_empty() {
            return Err(PlatformError::Missing("/memory"));
        }

        let uart_node = fdt.find_compatible(&["arm,pl011"]).ok_or(PlatformError::Missing("arm,pl011"))?;
        let uart = first_reg(uart_node, 0).ok_or(PlatformError::Missing("pl011 reg"))?;
        let uart_cells = cells(uart_node, "interrupts");
        let uart_irq = match uart_cells.as_slice() {
            [kind, number, ..] => Some(gic_intid(*kind as usize, *number as usize)),
            _ => None,
        };

        let (gic_version, gic_node) = if let Some(n) = fdt.find_compatible(&["arm,gic-v3"]) {
            (GicVersion::V3, n)
        } else if let Some(n) =
            fdt.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"])
        {
            (GicVersion::V2, n)
        } else {
            return Err(PlatformError::Missing("interrupt controller"));
        };
        let gicd = first_reg(gic_node, 0).ok_or(PlatformError::Missing("gic distributor"))?;
        let gicc_or_gicr = first_reg(gic_node, 1).ok_or(PlatformError::Missing("gic cpu/redistributor"))?;

        // `/timer` interrupts: secure phys, non-secure phys, virtual, hypervisor (in order).
        let timer = fdt
            .find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
            .ok_or(PlatformError::Missing("timer"))?;
        let per = cells(gic_node, "#interrupt-cells").first().map_or(3, |&n| n as usize).max(2);
        let timer_cells = cells(timer, "interrupts");
        let virt =
            timer_cells.get(2 * per..2 * per + 2).ok_or(PlatformError::Missing("virtual timer interrupt"))?;
        let vtimer_irq = gic_intid(virt[0] as usize, virt[1] as usize);

        let psci = fdt.find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]).and_then(|n| {
            match n.property("method")?.as_str()? {
                "hvc" => Some(Conduit::Hvc),
                "smc" => Some(Conduit::Smc),
                _ => None,
            }
        });

        let rtc = fdt.find_compatible(&["arm,pl031"]).and_then(|n| first_reg(n, 0));
        let bootargs = String::from(fdt.chosen().bootargs().unwrap_or(""));
        let initrd = match (chosen_u64(&fdt, "linux,initrd-start"), chosen_u64(&fdt, "linux,initrd-end")) {
            (Some(s), Some(e)) if e > s => Some((s, e)),
            _ => None,
        };

        let cpus = fdt
            .find_node("/cpus")
            .map(|n| {
                n.children()
                    .filter(|c| c.property("device_type").and_then(|p| p.as_str()) == Some("cpu"))
                    .filter_map(|c| {
                        let reg = c.property("reg")?;
                        match reg.value.len() {
                            4 => Some(u64::from(u32::from_be_bytes(reg.value.try_into().ok()?))),
                            8 => Some(u64::from_be_bytes(reg.value.try_into().ok()?)),
                            _ => None,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();

        let rng_seed: Vec<u8> = ["rng-seed", "kaslr-seed"]
            .iter()
            .filter_map(|name| fdt.find_node("/chosen")?.property(name))
            .flat_map(|p| p.value.iter().copied())
            .collect();

        Ok(PlatformInfo {
            rng_seed,
            cpus,
            memory,
            dtb: (pa, pa + fdt.total_size() as u64),
            uart,
            uart_irq,
            gic_version,
            gicd,
            gicc_or_gicr,
            vtimer_irq,
            psci,
            rtc,
            bootargs,
            initrd,
        })
    }

    /// Total RAM in bytes.
    pub fn memory_size(&self) -> u64 {
        self.memory.iter().map(|(s, e)| e - s).sum()
    }
}
