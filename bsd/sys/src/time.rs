//! Time structures passed to system calls (XNU `bsd/sys/_types/_user64_timeval.h`,
//! reference §9.10).

use zerocopy::{FromBytes, Immutable, IntoBytes};

/// `struct timeval` as a 64-bit process sees it: 16 bytes, `tv_usec` is 32-bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Timeval {
    pub tv_sec: i64,
    pub tv_usec: i32,
    pub _pad: i32,
}

/// `struct timezone` (obsolete; always zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Timezone {
    pub tz_minuteswest: i32,
    pub tz_dsttime: i32,
}

const _: () = assert!(core::mem::size_of::<Timeval>() == 16);
const _: () = assert!(core::mem::size_of::<Timezone>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_layout() {
        let t = Timeval { tv_sec: 1_700_000_000, tv_usec: 999_999, _pad: 0 };
        let b = t.as_bytes();
        assert_eq!(&b[..8], &1_700_000_000i64.to_le_bytes());
        assert_eq!(&b[8..12], &999_999i32.to_le_bytes());
        assert_eq!(Timeval::read_from_bytes(b), Ok(t));
    }
}
