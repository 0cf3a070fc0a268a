//! `select` and `poll` (XNU `bsd/sys/_types/_fd_def.h`, `bsd/sys/poll.h`; reference
//! `xnu-abi-files-tty-tools.md` §2.4–2.5).

use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Descriptors an `fd_set` can name: 1024, so a set is 128 bytes.
pub const FD_SETSIZE: usize = 1024;
/// Bits in one word of an `fd_set` (the words are `int32_t`).
pub const NFDBITS: usize = 32;
/// The longest `select` timeout in seconds (`itimerfix`'s bound): longer is `EINVAL`.
pub const SELECT_MAX_SECONDS: i64 = 100_000_000;

/// Words of an `fd_set` that cover descriptors `0..nd`.
pub const fn fd_set_words(nd: usize) -> usize {
    nd.div_ceil(NFDBITS)
}

/// `struct pollfd`: 8 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

const _: () = assert!(core::mem::size_of::<PollFd>() == 8);

/// Data other than high-priority data may be read.
pub const POLLIN: i16 = 0x0001;
/// High-priority data may be read.
pub const POLLPRI: i16 = 0x0002;
/// Data may be written.
pub const POLLOUT: i16 = 0x0004;
/// Normal data may be read.
pub const POLLRDNORM: i16 = 0x0040;
/// Normal data may be written (the same as [`POLLOUT`]).
pub const POLLWRNORM: i16 = POLLOUT;
/// Priority data may be read.
pub const POLLRDBAND: i16 = 0x0080;
/// Priority data may be written.
pub const POLLWRBAND: i16 = 0x0100;
/// The file was extended (a vnode event).
pub const POLLEXTEND: i16 = 0x0200;
/// The file's attributes changed (a vnode event).
pub const POLLATTRIB: i16 = 0x0400;
/// The file's link count changed (a vnode event).
pub const POLLNLINK: i16 = 0x0800;
/// The file's data was written (a vnode event).
pub const POLLWRITE: i16 = 0x1000;
/// An error happened (revents only).
pub const POLLERR: i16 = 0x0008;
/// The other side hung up (revents, though requesting it registers read interest).
pub const POLLHUP: i16 = 0x0010;
/// The descriptor is not open or cannot be polled (revents only).
pub const POLLNVAL: i16 = 0x0020;

/// Events that ask about reading: each registers XNU's read filter.
pub const POLL_READ_EVENTS: i16 = POLLIN | POLLRDNORM | POLLPRI | POLLRDBAND | POLLHUP;
/// Events that ask about writing: each registers the write filter.
pub const POLL_WRITE_EVENTS: i16 = POLLOUT | POLLWRNORM | POLLWRBAND;
/// Events that ask about changes to a file: each registers the vnode filter.
pub const POLL_VNODE_EVENTS: i16 = POLLEXTEND | POLLATTRIB | POLLNLINK | POLLWRITE;

/// The most `struct pollfd`s one `poll` may pass (`OPEN_MAX`).
pub const POLL_OPEN_MAX: u32 = 10240;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pollfd_layout_and_set_words() {
        let p = PollFd { fd: 7, events: POLLIN | POLLOUT, revents: POLLHUP };
        let b = p.as_bytes();
        assert_eq!(&b[..4], &7i32.to_le_bytes());
        assert_eq!(&b[4..6], &5i16.to_le_bytes());
        assert_eq!(&b[6..8], &0x10i16.to_le_bytes());
        assert_eq!(fd_set_words(0), 0);
        assert_eq!(fd_set_words(1), 1);
        assert_eq!(fd_set_words(32), 1);
        assert_eq!(fd_set_words(33), 2);
        assert_eq!(fd_set_words(FD_SETSIZE), 32);
    }
}
