//! Little-endian field access for the fixed-layout ABI structs: each struct's encoder and
//! decoder place fields at their `offset_of!` positions, so the `repr(C)` definition stays the
//! single statement of the layout. Out-of-range offsets are a bug in this crate, caught by the
//! round-trip tests; they read as zero and write nothing rather than panic in the kernel.

/// Store `bytes` at `off` in `buf`.
pub(crate) fn put<const N: usize>(buf: &mut [u8], off: usize, bytes: [u8; N]) {
    if let Some(dst) = buf.get_mut(off..off + N) {
        dst.copy_from_slice(&bytes);
    }
}

/// The `N` bytes at `off` in `buf`.
pub(crate) fn get<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(off..off + N) {
        out.copy_from_slice(src);
    }
    out
}

pub(crate) fn get_u32(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(get(buf, off))
}

pub(crate) fn get_i32(buf: &[u8], off: usize) -> i32 {
    i32::from_le_bytes(get(buf, off))
}

pub(crate) fn get_u64(buf: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(get(buf, off))
}

pub(crate) fn get_u128(buf: &[u8], off: usize) -> u128 {
    u128::from_le_bytes(get(buf, off))
}
