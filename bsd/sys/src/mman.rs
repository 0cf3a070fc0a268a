//! Memory mapping constants (XNU `bsd/sys/mman.h`, reference §9.5). Each is an `int`, as the
//! `prot`, `flags`, `behav` and `inherit` arguments are.

/// Pages may not be accessed.
pub const PROT_NONE: i32 = 0x0;
/// Pages may be read.
pub const PROT_READ: i32 = 0x1;
/// Pages may be written.
pub const PROT_WRITE: i32 = 0x2;
/// Pages may be executed.
pub const PROT_EXEC: i32 = 0x4;

/// Changes are shared with other mappings of the same memory (and survive fork as shared).
pub const MAP_SHARED: i32 = 0x0001;
/// Changes are private (copy-on-write).
pub const MAP_PRIVATE: i32 = 0x0002;
/// Map at exactly `addr`, replacing what is there.
pub const MAP_FIXED: i32 = 0x0010;
/// Anonymous memory: not backed by a file; `fd` carries VM flags (or −1).
pub const MAP_ANON: i32 = 0x1000;
/// Every `flags` bit mmap knows.
pub const MAP_KNOWN_FLAGS: i32 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | 0x0020 // MAP_RENAME
    | 0x0040 // MAP_NORESERVE
    | 0x0100 // MAP_NOEXTEND
    | 0x0200 // MAP_HASSEMAPHORE
    | 0x0400 // MAP_NOCACHE
    | 0x0800 // MAP_JIT
    | MAP_ANON
    | 0x2000 // MAP_RESILIENT_CODESIGN
    | 0x4000 // MAP_RESILIENT_MEDIA
    | 0x8000 // MAP_32BIT
    | 0x20000 // MAP_TRANSLATED_ALLOW_EXECUTE
    | 0x40000 // MAP_UNIX03
    | 0x80000; // MAP_TPRO

/// With MAP_ANON, `fd` may hold only these VM flag bits: the tag byte, superpage bits,
/// VM_FLAGS_PURGABLE and VM_FLAGS_4GB_CHUNK (reference §9.5).
pub const MAP_ANON_FD_FLAGS: u32 = 0xFF00_0000 | 0x0007_0000 | 0x2 | 0x4;

/// `madvise` behaviours: MADV_NORMAL (0) … MADV_ZERO (11).
pub const MADV_NORMAL: i32 = 0;
/// The pages are not needed soon.
pub const MADV_DONTNEED: i32 = 4;
/// The largest known behaviour (`MADV_ZERO`).
pub const MADV_MAX: i32 = 11;

/// `msync` flags: write back without waiting (`MS_ASYNC`).
pub const MS_ASYNC: i32 = 0x1;
/// Invalidate cached copies (`MS_INVALIDATE`).
pub const MS_INVALIDATE: i32 = 0x2;
/// Throw the pages away (`MS_KILLPAGES`).
pub const MS_KILLPAGES: i32 = 0x4;
/// Move the pages to the inactive list (`MS_DEACTIVATE`).
pub const MS_DEACTIVATE: i32 = 0x8;
/// Write back and wait (`MS_SYNC`).
pub const MS_SYNC: i32 = 0x10;
/// Every `msync` flag.
pub const MS_KNOWN_FLAGS: i32 = MS_ASYNC | MS_INVALIDATE | MS_KILLPAGES | MS_DEACTIVATE | MS_SYNC;

/// `minherit` values (the Mach inheritance values).
pub const VM_INHERIT_SHARE: i32 = 0;
/// Copy-on-write into the child (the default).
pub const VM_INHERIT_COPY: i32 = 1;
/// Not present in the child.
pub const VM_INHERIT_NONE: i32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    /// The C runtime's `<sys/mman.h>` mirrors these constants for C programs; every value it
    /// defines must be the one here, so the ABI still has one source of truth.
    #[test]
    fn the_c_header_agrees() {
        let header = include_str!("../../../userland/c/include/sys/mman.h");
        let mut checked = 0;
        for line in header.lines() {
            let mut words = line.split_whitespace();
            let (Some("#define"), Some(name), Some(value)) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let ours = match name {
                "PROT_NONE" => PROT_NONE,
                "PROT_READ" => PROT_READ,
                "PROT_WRITE" => PROT_WRITE,
                "PROT_EXEC" => PROT_EXEC,
                "MAP_SHARED" => MAP_SHARED,
                "MAP_PRIVATE" => MAP_PRIVATE,
                "MAP_FIXED" => MAP_FIXED,
                "MAP_ANON" => MAP_ANON,
                "MS_ASYNC" => MS_ASYNC,
                "MS_INVALIDATE" => MS_INVALIDATE,
                "MS_SYNC" => MS_SYNC,
                // Not a kernel constant: mmap's failure value in C.
                "MAP_FAILED" => continue,
                other => panic!("sys/mman.h defines {other}, which this test does not know"),
            };
            let theirs = match value.strip_prefix("0x") {
                Some(hex) => i32::from_str_radix(hex, 16),
                None => value.parse(),
            };
            assert_eq!(theirs, Ok(ours), "{name}");
            checked += 1;
        }
        assert_eq!(checked, 11);
    }
}
