//! Reading an executable for `execve` (the ELF counterpart of XNU's Mach-O loader,
//! `mach_loader.c`): from a file to a plan of what to map where.
//!
//! We run static ELF64 executables for aarch64 only (DESIGN §4). The loader follows the ELF
//! specification (System V gABI, "Program Loading"), not the habits of one linker, so what
//! GNU ld, gold and LLD emit for a static executable loads. It reads only the ELF header and
//! the program header table here; the segments' file bytes are read once, straight into
//! their pages, by the caller ([`ExecSource`] says how bytes are read, so a file's size —
//! debug info, symbol tables — never costs anything). Program headers:
//!
//! * `PT_LOAD` — mapped. `p_offset` matters only for file bytes, so a zero-fill segment
//!   (`.bss` alone, `p_filesz == 0`) may name any offset, even one past the end of the file,
//!   as GNU ld writes it. Otherwise the file bytes must lie inside the file and be congruent
//!   to `p_vaddr` modulo the page size (any larger `p_align`, such as GNU ld's 64 KiB, is
//!   congruent too). Segments lie inside the user image range, are never both writable and
//!   executable, and share a page only with a neighbour of the same protection (`.data` and
//!   `.bss`, or several RW segments, as linkers lay them out), never overlapping bytes.
//! * `PT_INTERP` — refused: a dynamically linked image needs a dynamic loader we don't
//!   have. `ET_DYN` (PIE, static-pie) is refused for the same reason: nothing relocates it.
//! * `PT_TLS` — checked, not mapped: it describes the initial thread-local image, which
//!   already lies in a `PT_LOAD`; the user runtime copies it into each thread's block (the
//!   kernel of a static image has nothing to do, as on Linux). Its file bytes must be inside
//!   a loaded segment's file bytes, or the runtime would read garbage.
//! * `PT_GNU_STACK` — the stack is never executable (W^X, as on Darwin): a request for an
//!   executable stack is not honoured, and a size hint is not either (RLIMIT_STACK decides).
//! * `PT_GNU_RELRO` — left to the user runtime, which applies it after its own relocations
//!   (a static runtime with IRELATIVE relocations writes there first); the pages keep their
//!   segment's protection, as Linux leaves them.
//! * `PT_NOTE`, `PT_GNU_PROPERTY`, `PT_PHDR`, `PT_GNU_EH_FRAME` and anything else — ignored.
//!   (BTI marking from `PT_GNU_PROPERTY` is not applied: BTI code runs on unguarded pages.)
//!
//! The entry point must be in an executable segment's file-backed bytes. Any violation — or
//! bytes that are not ELF at all — is `ENOEXEC`, never a panic.

use alloc::vec;
use alloc::vec::Vec;

use elf::abi::{EM_AARCH64, ET_EXEC, EV_CURRENT, PF_R, PF_W, PF_X, PN_XNUM, PT_INTERP, PT_LOAD, PT_TLS};
use elf::endian::LittleEndian;
use elf::file::{Class, FileHeader, parse_ident};
use elf::segment::{ProgramHeader, SegmentTable};
use sys::Errno;

// The user range and the page size are Mach's (osfmk): images live at or above 4 GiB, as
// Darwin's `__PAGEZERO` keeps the low 4 GiB unmapped, and segments are mapped (and must not
// overlap) at page grain.
pub use osfmk::arm64::pmap::{USER_VM_MAX, USER_VM_MIN as USER_IMAGE_MIN};
pub use osfmk::vm::vm_page::PAGE_SIZE;
use osfmk::vm::vm_page::{round_page as page_round_up, trunc_page as page_trunc};

/// Size of an ELF64 file header (`Elf64_Ehdr`).
pub const ELF64_EHDR_SIZE: usize = 64;
/// Size of an ELF64 program header (`Elf64_Phdr`).
const ELF64_PHDR_SIZE: usize = 56;
/// The largest program header table read: one page, as Linux allows (`ELF_MIN_ALIGN` in
/// `binfmt_elf.c`) — 73 headers, where a static executable has about ten.
const MAX_PHDR_TABLE: usize = PAGE_SIZE as usize;

/// Where the loader reads an executable from: a vnode in the kernel, a byte slice in tests.
pub trait ExecSource {
    /// The file's length in bytes.
    fn file_len(&self) -> u64;

    /// Fills `buf` with the bytes at `off`. Fewer bytes than asked (the file ends, or changed
    /// under us) is `ENOEXEC`: the image is not what its headers say.
    fn read_exact_at(&self, off: u64, buf: &mut [u8]) -> Result<(), Errno>;
}

impl ExecSource for [u8] {
    fn file_len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&self, off: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let from = usize::try_from(off).map_err(|_| Errno::ENOEXEC)?;
        let bytes = from.checked_add(buf.len()).and_then(|to| self.get(from..to)).ok_or(Errno::ENOEXEC)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// How a segment's pages may be accessed once mapped.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Prot {
    /// `PF_R`.
    pub read: bool,
    /// `PF_W`.
    pub write: bool,
    /// `PF_X`.
    pub execute: bool,
}

/// One `PT_LOAD` segment: map `[vaddr, vaddr + memsz)` with `prot`, fill its first `filesz`
/// bytes from the file at `file_offset` and zero the rest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SegmentPlan {
    /// First address of the segment (not necessarily page aligned).
    pub vaddr: u64,
    /// Bytes of address space it covers.
    pub memsz: u64,
    /// Where its file-backed bytes start in the file; congruent to `vaddr` modulo
    /// [`PAGE_SIZE`] so file pages can later be mapped directly. Meaningless (and not
    /// checked) when `filesz` is 0.
    pub file_offset: u64,
    /// How many bytes come from the file; the rest up to `memsz` is zero-fill.
    pub filesz: u64,
    /// Access once mapped.
    pub prot: Prot,
}

/// What `execve` must set up for an image: its segments, sorted by address, and where the
/// first user instruction is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImagePlan {
    /// Initial program counter.
    pub entry: u64,
    /// The `PT_LOAD` segments with a non-zero size, in ascending address order.
    pub segments: Vec<SegmentPlan>,
}

/// Checks the file behind `src` as a static aarch64 ELF64 executable and plans its loading,
/// reading only its ELF header and program header table.
pub fn parse_elf_image<S: ExecSource + ?Sized>(src: &S) -> Result<ImagePlan, Errno> {
    let file_len = src.file_len();
    let mut header = [0u8; ELF64_EHDR_SIZE];
    src.read_exact_at(0, &mut header)?;
    let ident = parse_ident::<LittleEndian>(&header).map_err(|_| Errno::ENOEXEC)?;
    let tail = header.get(elf::abi::EI_NIDENT..).ok_or(Errno::ENOEXEC)?;
    let ehdr = FileHeader::parse_tail(ident, tail).map_err(|_| Errno::ENOEXEC)?;
    if ehdr.class != Class::ELF64
        || ehdr.version != u32::from(EV_CURRENT)
        || ehdr.e_machine != EM_AARCH64
        || ehdr.e_type != ET_EXEC
        || usize::from(ehdr.e_phentsize) != ELF64_PHDR_SIZE
        || ehdr.e_phnum == 0
        || ehdr.e_phnum == PN_XNUM
    {
        return Err(Errno::ENOEXEC);
    }
    let table_len = usize::from(ehdr.e_phnum) * ELF64_PHDR_SIZE;
    if table_len > MAX_PHDR_TABLE {
        return Err(Errno::ENOEXEC);
    }
    let mut table = vec![0u8; table_len];
    src.read_exact_at(ehdr.e_phoff, &mut table)?;
    let phdrs = SegmentTable::new(LittleEndian, Class::ELF64, &table);

    let mut segments = Vec::new();
    let mut tls = None;
    for phdr in phdrs.iter() {
        match phdr.p_type {
            PT_INTERP => return Err(Errno::ENOEXEC),
            // An empty PT_LOAD maps nothing; some linkers emit one. File bytes with no memory
            // to hold them break the gABI's p_filesz <= p_memsz all the same.
            PT_LOAD if phdr.p_filesz > phdr.p_memsz => return Err(Errno::ENOEXEC),
            PT_LOAD if phdr.p_memsz != 0 => segments.push(plan_segment(&phdr, file_len)?),
            PT_TLS if tls.is_some() => return Err(Errno::ENOEXEC),
            PT_TLS => tls = Some(phdr),
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(Errno::ENOEXEC);
    }

    segments.sort_unstable_by_key(|s| s.vaddr);
    // Neighbours may share a page only if they would map it the same way; bytes never overlap.
    for pair in segments.windows(2) {
        if let [low, high] = pair {
            let low_end = low.vaddr + low.memsz;
            let shares_page = page_round_up(low_end) > page_trunc(high.vaddr);
            if low_end > high.vaddr || (shares_page && low.prot != high.prot) {
                return Err(Errno::ENOEXEC);
            }
        }
    }

    if let Some(tls) = tls {
        check_tls(&tls, &segments)?;
    }

    // Zero-fill is never code, so the entry must be in the file-backed bytes.
    let entry = ehdr.e_entry;
    if !segments.iter().any(|s| s.prot.execute && entry >= s.vaddr && entry - s.vaddr < s.filesz) {
        return Err(Errno::ENOEXEC);
    }
    Ok(ImagePlan { entry, segments })
}

/// Checks one non-empty `PT_LOAD` header against a file of `file_len` bytes.
fn plan_segment(phdr: &ProgramHeader, file_len: u64) -> Result<SegmentPlan, Errno> {
    let prot = Prot {
        read: phdr.p_flags & PF_R != 0,
        write: phdr.p_flags & PF_W != 0,
        execute: phdr.p_flags & PF_X != 0,
    };
    let mem_end = phdr.p_vaddr.checked_add(phdr.p_memsz).ok_or(Errno::ENOEXEC)?;
    // The offset describes file bytes; with none, there is nothing to check it against.
    let file_ok = phdr.p_filesz == 0
        || (phdr.p_offset.checked_add(phdr.p_filesz).is_some_and(|end| end <= file_len)
            && phdr.p_offset % PAGE_SIZE == phdr.p_vaddr % PAGE_SIZE);
    let ok = phdr.p_filesz <= phdr.p_memsz
        && file_ok
        && phdr.p_vaddr >= USER_IMAGE_MIN
        && mem_end <= USER_VM_MAX
        && !(prot.write && prot.execute);
    if !ok {
        return Err(Errno::ENOEXEC);
    }
    Ok(SegmentPlan {
        vaddr: phdr.p_vaddr,
        memsz: phdr.p_memsz,
        file_offset: if phdr.p_filesz == 0 { 0 } else { phdr.p_offset },
        filesz: phdr.p_filesz,
        prot,
    })
}

/// The TLS template must be readable where the runtime will look for it: its initialised
/// bytes inside one loaded segment's file bytes, its alignment a power of two.
fn check_tls(tls: &ProgramHeader, segments: &[SegmentPlan]) -> Result<(), Errno> {
    let align_ok = tls.p_align <= 1 || tls.p_align.is_power_of_two();
    let end = tls.p_vaddr.checked_add(tls.p_filesz).ok_or(Errno::ENOEXEC)?;
    let inside = tls.p_filesz == 0
        || segments.iter().any(|s| s.prot.read && tls.p_vaddr >= s.vaddr && end <= s.vaddr + s.filesz);
    if tls.p_filesz > tls.p_memsz || !align_ok || !inside {
        return Err(Errno::ENOEXEC);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use elf::abi::{ELFCLASS32, ELFDATA2MSB, EM_X86_64, ET_DYN, PT_GNU_STACK, PT_NOTE};

    /// A test-only ELF64 writer: a header, a program header table right after it, and the
    /// file padded to `file_len`.
    struct Elf {
        ident_class: u8,
        ident_data: u8,
        e_type: u16,
        machine: u16,
        entry: u64,
        phdrs: Vec<Phdr>,
        file_len: usize,
    }

    #[derive(Clone, Copy)]
    struct Phdr {
        p_type: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
    }

    const BASE: u64 = USER_IMAGE_MIN;
    const EHDR_LEN: usize = 64;
    const PHDR_LEN: usize = 56;

    fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Phdr {
        Phdr { p_type: PT_LOAD, flags, offset, vaddr, filesz, memsz }
    }

    impl Elf {
        /// Text (R-X) at `BASE` holding the headers, data and bss (RW-) on the next page.
        fn typical() -> Elf {
            Elf {
                ident_class: 2,
                ident_data: 1,
                e_type: ET_EXEC,
                machine: EM_AARCH64,
                entry: BASE + 0x200,
                phdrs: vec![
                    load(PF_R | PF_X, 0, BASE, 0x1000, 0x1000),
                    load(PF_R | PF_W, 0x1000, BASE + 0x1000, 0x80, 0x3000),
                    Phdr {
                        p_type: PT_GNU_STACK,
                        flags: PF_R | PF_W,
                        offset: 0,
                        vaddr: 0,
                        filesz: 0,
                        memsz: 0,
                    },
                ],
                file_len: 0x1080,
            }
        }

        fn bytes(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&[0x7f, b'E', b'L', b'F', self.ident_class, self.ident_data, 1]);
            out.resize(16, 0);
            out.extend_from_slice(&self.e_type.to_le_bytes());
            out.extend_from_slice(&self.machine.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&self.entry.to_le_bytes());
            out.extend_from_slice(&(EHDR_LEN as u64).to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes()); // no section headers
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(EHDR_LEN as u16).to_le_bytes());
            out.extend_from_slice(&(PHDR_LEN as u16).to_le_bytes());
            out.extend_from_slice(&(self.phdrs.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
            assert_eq!(out.len(), EHDR_LEN);
            for p in &self.phdrs {
                out.extend_from_slice(&p.p_type.to_le_bytes());
                out.extend_from_slice(&p.flags.to_le_bytes());
                for v in [p.offset, p.vaddr, p.vaddr, p.filesz, p.memsz, PAGE_SIZE] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            out.resize(self.file_len.max(out.len()), 0xAA);
            out
        }

        fn parse(&self) -> Result<ImagePlan, Errno> {
            parse_elf_image(&self.bytes()[..])
        }
    }

    fn rejected(change: impl FnOnce(&mut Elf)) {
        let mut e = Elf::typical();
        change(&mut e);
        assert_eq!(e.parse(), Err(Errno::ENOEXEC));
    }

    const RX: Prot = Prot { read: true, write: false, execute: true };
    const RW: Prot = Prot { read: true, write: true, execute: false };

    #[test]
    fn a_typical_static_executable() {
        let plan = Elf::typical().parse().unwrap();
        assert_eq!(plan.entry, BASE + 0x200);
        assert_eq!(
            plan.segments,
            [
                SegmentPlan { vaddr: BASE, memsz: 0x1000, file_offset: 0, filesz: 0x1000, prot: RX },
                SegmentPlan {
                    vaddr: BASE + 0x1000,
                    memsz: 0x3000,
                    file_offset: 0x1000,
                    filesz: 0x80,
                    prot: RW
                },
            ]
        );
    }

    #[test]
    fn protections_come_from_p_flags() {
        let mut e = Elf::typical();
        e.phdrs.push(load(PF_X, 0, BASE + 0x10_0000, 0x10, 0x10));
        e.phdrs.push(load(PF_R, 0, BASE + 0x20_0000, 0x10, 0x10));
        e.phdrs.push(load(0, 0, BASE + 0x30_0000, 0, 0x10));
        let plan = e.parse().unwrap();
        let prots: Vec<Prot> = plan.segments.iter().map(|s| s.prot).collect();
        assert_eq!(
            prots,
            [
                RX,
                RW,
                Prot { read: false, write: false, execute: true },
                Prot { read: true, write: false, execute: false },
                Prot::default()
            ]
        );
    }

    #[test]
    fn segments_come_back_sorted_and_empty_ones_dropped() {
        let mut e = Elf::typical();
        e.phdrs.reverse();
        e.phdrs.push(load(PF_R, 0, BASE + 0x9000, 0, 0));
        let plan = e.parse().unwrap();
        assert_eq!(plan.segments.len(), 2);
        assert!(plan.segments[0].vaddr < plan.segments[1].vaddr);
        // An empty segment with file bytes is not empty: it is malformed.
        e.phdrs.push(load(PF_R, 0, BASE + 0x9000, 0x10, 0));
        assert_eq!(e.parse(), Err(Errno::ENOEXEC));
    }

    #[test]
    fn not_elf_at_all() {
        assert_eq!(parse_elf_image(&[][..]), Err(Errno::ENOEXEC));
        assert_eq!(parse_elf_image(&b"#!/bin/sh\necho hi\n"[..]), Err(Errno::ENOEXEC));
        assert_eq!(parse_elf_image(&[0x7f, b'E', b'L', b'F'][..]), Err(Errno::ENOEXEC));
        let mut bytes = Elf::typical().bytes();
        bytes[0] = 0x7e;
        assert_eq!(parse_elf_image(&bytes[..]), Err(Errno::ENOEXEC));
    }

    #[test]
    fn wrong_kind_of_elf() {
        rejected(|e| e.ident_class = ELFCLASS32);
        rejected(|e| e.ident_data = ELFDATA2MSB);
        rejected(|e| e.machine = EM_X86_64);
        rejected(|e| e.e_type = ET_DYN);
        rejected(|e| {
            e.phdrs.push(Phdr { p_type: PT_INTERP, flags: PF_R, offset: 0, vaddr: 0, filesz: 1, memsz: 1 })
        });
        rejected(|e| e.phdrs.retain(|p| p.p_type != PT_LOAD));
        rejected(|e| e.phdrs.iter_mut().for_each(|p| p.memsz = 0));
    }

    #[test]
    fn other_program_headers_are_ignored() {
        let mut e = Elf::typical();
        e.phdrs.push(Phdr { p_type: PT_NOTE, flags: 0, offset: 0x1234_5678, vaddr: 3, filesz: 1, memsz: 1 });
        assert!(e.parse().is_ok());
    }

    #[test]
    fn segment_must_fit_the_file() {
        rejected(|e| e.phdrs[1].filesz = 0x81);
        rejected(|e| e.phdrs[1].offset = u64::MAX - 0x40);
        rejected(|e| e.phdrs[1].filesz = 0x3001);
    }

    #[test]
    fn segment_must_fit_the_user_range() {
        rejected(|e| {
            e.phdrs[0].vaddr = USER_IMAGE_MIN - PAGE_SIZE;
            e.entry = e.phdrs[0].vaddr + 0x200;
        });
        rejected(|e| {
            e.phdrs[1].vaddr = USER_VM_MAX - PAGE_SIZE;
            e.phdrs[1].offset = 0;
        });
        rejected(|e| {
            e.phdrs[1].vaddr = page_trunc(u64::MAX);
            e.phdrs[1].offset = 0;
        });
        // Right up to the top is fine.
        let mut e = Elf::typical();
        e.phdrs[1].vaddr = USER_VM_MAX - 0x3000;
        e.phdrs[1].offset = 0;
        assert!(e.parse().is_ok());
    }

    #[test]
    fn file_offset_must_match_vaddr_within_a_page() {
        rejected(|e| e.phdrs[1].offset = 0x1008);
        // A pure zero-fill segment has no file bytes to align.
        let mut e = Elf::typical();
        e.phdrs[1].offset = 0x1008;
        e.phdrs[1].filesz = 0;
        assert!(e.parse().is_ok());
    }

    #[test]
    fn entry_must_be_in_executable_file_bytes() {
        rejected(|e| e.entry = 0);
        rejected(|e| e.entry = BASE + 0x1000); // data
        rejected(|e| e.entry = BASE - 4);
        rejected(|e| {
            e.phdrs[0].filesz = 0x800; // the rest of text is zero-fill
            e.entry = BASE + 0x900;
        });
        let mut e = Elf::typical();
        e.entry = BASE + 0xffc;
        assert!(e.parse().is_ok());
    }

    #[test]
    fn segments_may_not_share_a_page() {
        rejected(|e| {
            e.phdrs[1].vaddr = BASE + 0xff0;
            e.phdrs[1].offset = 0xff0;
        });
        rejected(|e| {
            e.phdrs[1].vaddr = BASE + 0x800;
            e.phdrs[1].offset = 0x800;
        });
        // Separated by whole pages, in any order in the table.
        let mut e = Elf::typical();
        e.phdrs.insert(0, load(PF_R, 0, BASE + 0x4000, 0x10, 0x10));
        assert!(e.parse().is_ok());
        rejected(|e| e.phdrs.insert(0, load(PF_R, 0, BASE + 0x3000, 0x10, 0x10)));
    }

    #[test]
    fn same_protection_neighbours_may_share_a_page() {
        // `.data` then `.bss` in the same page, as a linker with RELRO lays them out.
        let mut e = Elf::typical();
        e.phdrs.insert(2, load(PF_R | PF_W, 0, BASE + 0x4010, 0, 0x2000));
        e.phdrs[1].memsz = 0x3010;
        assert!(e.parse().is_ok());
        // But never overlapping bytes.
        rejected(|e| {
            e.phdrs.insert(2, load(PF_R | PF_W, 0, BASE + 0x4000, 0, 0x2000));
            e.phdrs[1].memsz = 0x3010;
        });
    }

    #[test]
    fn writable_and_executable_is_refused() {
        rejected(|e| e.phdrs[0].flags = PF_R | PF_W | PF_X);
        rejected(|e| e.phdrs[1].flags = PF_W | PF_X);
    }

    #[test]
    fn damaged_images_never_panic() {
        let good = Elf::typical().bytes();
        for len in 0..good.len().min(EHDR_LEN + 3 * PHDR_LEN + 8) {
            assert_eq!(parse_elf_image(&good[..len]), Err(Errno::ENOEXEC), "len {len}");
        }
        for i in 0..EHDR_LEN + 3 * PHDR_LEN {
            for flip in [0x01u8, 0x10, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                let _ = parse_elf_image(&bad[..]);
            }
        }
        // A program header table running off the end of the file.
        let mut bad = good.clone();
        bad[56..58].copy_from_slice(&0xfffeu16.to_le_bytes());
        assert_eq!(parse_elf_image(&bad[..]), Err(Errno::ENOEXEC));
    }

    #[test]
    fn a_zero_fill_segment_may_name_any_offset() {
        // GNU ld's `.bss`-only data segment: p_filesz 0 and p_offset past the end of the file.
        let mut e = Elf::typical();
        e.phdrs[1].filesz = 0;
        e.phdrs[1].offset = 0x1_0000;
        let plan = e.parse().unwrap();
        assert_eq!((plan.segments[1].filesz, plan.segments[1].file_offset), (0, 0));
        e.phdrs[1].offset = u64::MAX;
        assert!(e.parse().is_ok());
        // With file bytes, the offset counts again.
        e.phdrs[1].filesz = 1;
        assert_eq!(e.parse(), Err(Errno::ENOEXEC));
    }

    #[test]
    fn program_header_table_shape() {
        rejected(|e| e.phdrs.clear());
        let mut e = Elf::typical();
        let mut bytes = e.bytes();
        bytes[54..56].copy_from_slice(&32u16.to_le_bytes()); // e_phentsize
        assert_eq!(parse_elf_image(&bytes[..]), Err(Errno::ENOEXEC));
        // More headers than one page holds.
        e.phdrs.extend(core::iter::repeat_n(e.phdrs[2], 72));
        e.file_len = EHDR_LEN + e.phdrs.len() * PHDR_LEN;
        assert_eq!(e.parse(), Err(Errno::ENOEXEC));
        e.phdrs.truncate(73);
        assert!(e.parse().is_ok());
    }

    #[test]
    fn tls_template_must_be_loaded() {
        let tls =
            |offset, vaddr, filesz, memsz| Phdr { p_type: PT_TLS, flags: PF_R, offset, vaddr, filesz, memsz };
        let mut e = Elf::typical();
        e.phdrs.push(tls(0x1000, BASE + 0x1000, 0x40, 0x200));
        assert!(e.parse().is_ok());
        // Only .tbss: nothing to read.
        e.phdrs[3] = tls(0, 0, 0, 0x100);
        assert!(e.parse().is_ok());
        rejected(|e| e.phdrs.push(tls(0x1000, BASE + 0x1000, 0x100, 0x200))); // past .data
        rejected(|e| e.phdrs.push(tls(0x1000, BASE + 0x1000, 0x40, 0x20))); // filesz > memsz
        rejected(|e| e.phdrs.push(tls(0, u64::MAX - 8, 0x40, 0x40)));
        rejected(|e| {
            e.phdrs.push(tls(0x1000, BASE + 0x1000, 0x40, 0x200));
            e.phdrs.push(tls(0x1000, BASE + 0x1000, 0x40, 0x200));
        });
    }

    /// Real executables (see testdata/README.md): GNU ld's and LLD's layouts.
    const REAL: &[(&str, &[u8])] = &[
        ("gcc-bss-O2", include_bytes!("testdata/gcc-bss-O2")),
        ("gcc-hello-O0", include_bytes!("testdata/gcc-hello-O0")),
        ("gcc-data-O0", include_bytes!("testdata/gcc-data-O0")),
        ("gcc-tls-O2", include_bytes!("testdata/gcc-tls-O2")),
        ("gold-hello-O2", include_bytes!("testdata/gold-hello-O2")),
        ("lld-tls-O2", include_bytes!("testdata/lld-tls-O2")),
        ("rust-init", include_bytes!("testdata/rust-init")),
    ];

    #[test]
    fn what_gnu_ld_and_lld_emit_loads() {
        for (name, bytes) in REAL {
            let plan = parse_elf_image(*bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_plan_is_sound(&plan, bytes.len());
        }
        // GNU ld's .bss-only segment has a file offset past the end of the file.
        let bss = parse_elf_image(REAL[0].1).unwrap();
        assert!(bss.segments.iter().any(|s| s.prot == RW && s.filesz == 0));
        // LLD's RELRO and data segments: two RW segments.
        let lld = parse_elf_image(REAL[5].1).unwrap();
        assert_eq!(lld.segments.iter().filter(|s| s.prot == RW).count(), 2);
    }

    /// Everything the mapping code relies on (see the module doc).
    fn assert_plan_is_sound(plan: &ImagePlan, file_len: usize) {
        for s in &plan.segments {
            assert!(s.vaddr >= USER_IMAGE_MIN && s.memsz > 0, "{s:?}");
            assert!(s.vaddr.checked_add(s.memsz).is_some_and(|end| end <= USER_VM_MAX), "{s:?}");
            assert!(s.filesz <= s.memsz && !(s.prot.write && s.prot.execute), "{s:?}");
            assert!(s.filesz == 0 || s.file_offset + s.filesz <= file_len as u64, "{s:?}");
        }
        for w in plan.segments.windows(2) {
            assert!(w[0].vaddr + w[0].memsz <= w[1].vaddr, "{w:?}");
        }
        let entry = plan.entry;
        assert!(
            plan.segments.iter().any(|s| s.prot.execute && entry >= s.vaddr && entry - s.vaddr < s.filesz)
        );
    }

    use osfmk::test_rng::Rng;

    /// One random change to the parts of `image` the loader reads (or to its length).
    fn mutate(rng: &mut Rng, image: &mut Vec<u8>) {
        if image.len() < 8 {
            image.resize(8, 0);
        }
        let headers = (EHDR_LEN + 16 * PHDR_LEN).min(image.len());
        let interesting = [
            0,
            1,
            PAGE_SIZE - 1,
            PAGE_SIZE,
            0xffff,
            image.len() as u64,
            image.len() as u64 + 1,
            USER_IMAGE_MIN,
            USER_VM_MAX,
            USER_VM_MAX - PAGE_SIZE,
            u64::MAX,
            u64::MAX - PAGE_SIZE + 1,
            1 << 63,
            rng.next(),
        ];
        match rng.index(5) {
            0 => {
                for _ in 0..=rng.index(4) {
                    let i = rng.index(headers);
                    image[i] ^= 1 << rng.index(8);
                }
            }
            1 => {
                // A whole field: 8, 4 or 2 bytes wide, at a naturally aligned offset.
                let width = [8, 4, 2][rng.index(3)];
                let at = rng.index(headers / width) * width;
                let value = interesting[rng.index(interesting.len())].to_le_bytes();
                image[at..at + width].copy_from_slice(&value[..width]);
            }
            2 => image.truncate(rng.index(image.len() + 1)),
            3 => {
                let i = rng.index(image.len());
                image[i] = rng.next() as u8;
            }
            _ => image.extend(core::iter::repeat_n(0u8, rng.index(4 * PAGE_SIZE as usize))),
        }
    }

    /// Mutants of each real image per run: more than 10^5 inputs in all (B3's bar for every
    /// parser of user input).
    const MUTANTS_PER_IMAGE: usize = 15_000;

    #[test]
    fn mutated_real_binaries_give_a_sound_plan_or_enoexec() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut loaded = 0;
        for (name, bytes) in REAL {
            for round in 0..MUTANTS_PER_IMAGE {
                let mut image = bytes.to_vec();
                for _ in 0..=rng.index(3) {
                    mutate(&mut rng, &mut image);
                }
                match parse_elf_image(&image[..]) {
                    Ok(plan) => {
                        assert_plan_is_sound(&plan, image.len());
                        loaded += 1;
                    }
                    Err(e) => assert_eq!(e, Errno::ENOEXEC, "{name} round {round}"),
                }
            }
        }
        // Many mutations hit bytes that do not matter: both outcomes must be exercised.
        let total = REAL.len() * MUTANTS_PER_IMAGE;
        assert!(loaded > total / 10 && loaded < total * 9 / 10, "{loaded} of {total} mutants loaded");
    }
}
