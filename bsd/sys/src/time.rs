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

impl Timeval {
    /// The 16 bytes user space reads.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.tv_sec.to_le_bytes());
        b[8..12].copy_from_slice(&self.tv_usec.to_le_bytes());
        b
    }

    /// From the 16 bytes user space wrote.
    pub fn from_bytes(b: [u8; 16]) -> Timeval {
        let mut sec = [0u8; 8];
        sec.copy_from_slice(&b[..8]);
        let mut usec = [0u8; 4];
        usec.copy_from_slice(&b[8..12]);
        Timeval { tv_sec: i64::from_le_bytes(sec), tv_usec: i32::from_le_bytes(usec), _pad: 0 }
    }
}

const _: () = assert!(core::mem::size_of::<Timeval>() == 16);
const _: () = assert!(core::mem::size_of::<Timezone>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_round_trips() {
        let t = Timeval { tv_sec: 1_700_000_000, tv_usec: 999_999, _pad: 0 };
        assert_eq!(Timeval::from_bytes(t.to_bytes()), t);
    }
}
