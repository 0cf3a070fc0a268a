//! Reading an executable for `execve` (the ELF counterpart of XNU's Mach-O loader,
//! `mach_loader.c`): from a file's bytes to a plan of what to map where.
//!
//! We run static ELF64 executables for aarch64 only (DESIGN §4). A position-independent or
//! dynamically linked image (`ET_DYN`, or any image naming an interpreter with `PT_INTERP`)
//! is `ENOEXEC`: there is no dynamic loader. Everything the plan says is checked here so
//! the mapping code can trust it: segments lie inside the file and inside the user image
//! range, share a page only with a neighbour of the same protection (`.data` and `.bss`, as
//! linkers lay them out) and never overlap, are never both writable and executable, and the entry point
//! is in an executable segment's file-backed bytes. Any violation — or bytes that are not
//! ELF at all — is `ENOEXEC`.

use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::{EM_AARCH64, ET_EXEC, EV_CURRENT, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD};
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::segment::ProgramHeader;
use sys::Errno;

// The user range and the page size are Mach's (osfmk): images live at or above 4 GiB, as
// Darwin's `__PAGEZERO` keeps the low 4 GiB unmapped, and segments are mapped (and must not
// overlap) at page grain.
pub use osfmk::arm64::pmap::{USER_VM_MAX, USER_VM_MIN as USER_IMAGE_MIN};
pub use osfmk::vm::vm_page::PAGE_SIZE;

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
    /// [`PAGE_SIZE`] so file pages can later be mapped directly.
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

/// Checks `bytes` as a static aarch64 ELF64 executable and plans its loading.
pub fn parse_elf_image(bytes: &[u8]) -> Result<ImagePlan, Errno> {
    let elf = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(|_| Errno::ENOEXEC)?;
    let ehdr = &elf.ehdr;
    if ehdr.class != Class::ELF64
        || ehdr.version != u32::from(EV_CURRENT)
        || ehdr.e_machine != EM_AARCH64
        || ehdr.e_type != ET_EXEC
    {
        return Err(Errno::ENOEXEC);
    }

    let phdrs = elf.segments().ok_or(Errno::ENOEXEC)?;
    let mut segments = Vec::new();
    for i in 0..phdrs.len() {
        let phdr = phdrs.get(i).map_err(|_| Errno::ENOEXEC)?;
        match phdr.p_type {
            PT_INTERP => return Err(Errno::ENOEXEC),
            // An empty PT_LOAD maps nothing; some linkers emit one.
            PT_LOAD if phdr.p_memsz != 0 => segments.push(plan_segment(&phdr, bytes.len())?),
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

    // Zero-fill is never code, so the entry must be in the file-backed bytes.
    let entry = ehdr.e_entry;
    if !segments.iter().any(|s| s.prot.execute && entry >= s.vaddr && entry - s.vaddr < s.filesz) {
        return Err(Errno::ENOEXEC);
    }
    Ok(ImagePlan { entry, segments })
}

/// Checks one non-empty `PT_LOAD` header against a file of `file_len` bytes.
fn plan_segment(phdr: &ProgramHeader, file_len: usize) -> Result<SegmentPlan, Errno> {
    let prot = Prot {
        read: phdr.p_flags & PF_R != 0,
        write: phdr.p_flags & PF_W != 0,
        execute: phdr.p_flags & PF_X != 0,
    };
    let file_end = phdr.p_offset.checked_add(phdr.p_filesz).ok_or(Errno::ENOEXEC)?;
    let mem_end = phdr.p_vaddr.checked_add(phdr.p_memsz).ok_or(Errno::ENOEXEC)?;
    let ok = phdr.p_filesz <= phdr.p_memsz
        && file_end <= file_len as u64
        && phdr.p_vaddr >= USER_IMAGE_MIN
        && mem_end <= USER_VM_MAX
        && (phdr.p_filesz == 0 || phdr.p_offset % PAGE_SIZE == phdr.p_vaddr % PAGE_SIZE)
        && !(prot.write && prot.execute);
    if !ok {
        return Err(Errno::ENOEXEC);
    }
    Ok(SegmentPlan {
        vaddr: phdr.p_vaddr,
        memsz: phdr.p_memsz,
        file_offset: phdr.p_offset,
        filesz: phdr.p_filesz,
        prot,
    })
}

use osfmk::vm::vm_page::{round_page as page_round_up, trunc_page as page_trunc};

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
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
            parse_elf_image(&self.bytes())
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
    }

    #[test]
    fn not_elf_at_all() {
        assert_eq!(parse_elf_image(&[]), Err(Errno::ENOEXEC));
        assert_eq!(parse_elf_image(b"#!/bin/sh\necho hi\n"), Err(Errno::ENOEXEC));
        assert_eq!(parse_elf_image(&[0x7f, b'E', b'L', b'F']), Err(Errno::ENOEXEC));
        let mut bytes = Elf::typical().bytes();
        bytes[0] = 0x7e;
        assert_eq!(parse_elf_image(&bytes), Err(Errno::ENOEXEC));
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
                let _ = parse_elf_image(&bad);
            }
        }
        // A program header table running off the end of the file.
        let mut bad = good.clone();
        bad[56..58].copy_from_slice(&0xfffeu16.to_le_bytes());
        assert_eq!(parse_elf_image(&bad), Err(Errno::ENOEXEC));
    }
}
