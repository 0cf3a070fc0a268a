//! BSD error numbers (XNU `bsd/sys/errno.h`, reference §9.1).

/// An error number as user space sees it: returned in x0 with the carry flag set.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($( $name:ident = $val:literal, )*) => {
        impl Errno {
            $( #[doc = stringify!($name)] pub const $name: Errno = Errno($val); )*

            /// The symbolic name, for logs and test output.
            pub fn name(self) -> &'static str {
                match self.0 { $( $val => stringify!($name), )* _ => "E?" }
            }
        }
    };
}

errnos! {
    EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, ENOEXEC = 8,
    EBADF = 9, ECHILD = 10, EDEADLK = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, ENOTBLK = 15,
    EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
    ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26, EFBIG = 27, ENOSPC = 28, ESPIPE = 29,
    EROFS = 30, EMLINK = 31, EPIPE = 32, EDOM = 33, ERANGE = 34, EAGAIN = 35, EINPROGRESS = 36,
    EALREADY = 37, ENOTSOCK = 38, EDESTADDRREQ = 39, EMSGSIZE = 40, EPROTOTYPE = 41,
    ENOPROTOOPT = 42, EPROTONOSUPPORT = 43, ESOCKTNOSUPPORT = 44, ENOTSUP = 45, EPFNOSUPPORT = 46,
    EAFNOSUPPORT = 47, EADDRINUSE = 48, EADDRNOTAVAIL = 49, ENETDOWN = 50, ENETUNREACH = 51,
    ENETRESET = 52, ECONNABORTED = 53, ECONNRESET = 54, ENOBUFS = 55, EISCONN = 56, ENOTCONN = 57,
    ESHUTDOWN = 58, ETOOMANYREFS = 59, ETIMEDOUT = 60, ECONNREFUSED = 61, ELOOP = 62,
    ENAMETOOLONG = 63, EHOSTDOWN = 64, EHOSTUNREACH = 65, ENOTEMPTY = 66, EPROCLIM = 67,
    EUSERS = 68, EDQUOT = 69, ESTALE = 70, EREMOTE = 71, EBADRPC = 72, ERPCMISMATCH = 73,
    EPROGUNAVAIL = 74, EPROGMISMATCH = 75, EPROCUNAVAIL = 76, ENOLCK = 77, ENOSYS = 78,
    EFTYPE = 79, EAUTH = 80, ENEEDAUTH = 81, EPWROFF = 82, EDEVERR = 83, EOVERFLOW = 84,
    EBADEXEC = 85, EBADARCH = 86, ESHLIBVERS = 87, EBADMACHO = 88, ECANCELED = 89, EIDRM = 90,
    ENOMSG = 91, EILSEQ = 92, ENOATTR = 93, EBADMSG = 94, EMULTIHOP = 95, ENODATA = 96,
    ENOLINK = 97, ENOSR = 98, ENOSTR = 99, EPROTO = 100, ETIME = 101, EOPNOTSUPP = 102,
    ENOPOLICY = 103, ENOTRECOVERABLE = 104, EOWNERDEAD = 105, EQFULL = 106,
}

impl Errno {
    /// `EWOULDBLOCK` is `EAGAIN` in BSD.
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
    /// Kernel-internal: re-execute the `svc` (never reaches user space).
    pub const ERESTART: Errno = Errno(-1);
    /// Kernel-internal: the handler set the user registers itself (never reaches user space).
    pub const EJUSTRETURN: Errno = Errno(-2);
}

/// A copy from or to a bad user address is `EFAULT`, as XNU's `copyin`/`copyout` return.
impl From<mach::CopyFault> for Errno {
    fn from(_: mach::CopyFault) -> Errno {
        Errno::EFAULT
    }
}

/// How a BSD call reports a Mach error: XNU's `mach_to_bsd_errno` (`bsd/kern/ubc_subr.c`).
/// Note that it makes `KERN_INVALID_ADDRESS` `EINVAL` (a bad range given to the VM), not
/// `EFAULT`: a bad pointer the kernel copies through is a [`mach::CopyFault`] instead.
/// Calls whose own mapping XNU spells out differently (mmap's, in `kern_mman.c`) keep it.
impl From<mach::KernReturn> for Errno {
    fn from(kr: mach::KernReturn) -> Errno {
        use mach::KernReturn as K;
        match kr {
            K::KERN_INVALID_ADDRESS
            | K::KERN_INVALID_ARGUMENT
            | K::KERN_NOT_IN_SET
            | K::KERN_INVALID_NAME
            | K::KERN_INVALID_TASK
            | K::KERN_INVALID_RIGHT
            | K::KERN_INVALID_VALUE
            | K::KERN_INVALID_CAPABILITY
            | K::KERN_INVALID_HOST
            | K::KERN_MEMORY_PRESENT => Errno::EINVAL,
            K::KERN_PROTECTION_FAILURE | K::KERN_NOT_RECEIVER | K::KERN_NO_ACCESS => Errno::EACCES,
            K::KERN_NO_SPACE | K::KERN_RESOURCE_SHORTAGE | K::KERN_UREFS_OVERFLOW => Errno::ENOMEM,
            K::KERN_MEMORY_FAILURE => Errno::EPERM,
            K::KERN_MEMORY_ERROR => Errno::EBUSY,
            K::KERN_ALREADY_IN_SET | K::KERN_NAME_EXISTS | K::KERN_RIGHT_EXISTS => Errno::EEXIST,
            K::KERN_ABORTED => Errno::EINTR,
            K::KERN_TERMINATED | K::KERN_SEMAPHORE_DESTROYED | K::KERN_NOT_WAITING => Errno::ENOENT,
            K::KERN_NOT_SUPPORTED => Errno::ENOTSUP,
            K::KERN_OPERATION_TIMED_OUT => Errno::ETIMEDOUT,
            _ => Errno::EIO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn values_are_xnu() {
        assert_eq!(Errno::EAGAIN.0, 35);
        assert_eq!(Errno::EDEADLK.0, 11);
        assert_eq!(Errno::ENOSYS.0, 78);
        assert_eq!(Errno::EFAULT.0, 14);
        assert_eq!(Errno::EOPNOTSUPP.0, 102);
        assert_eq!(Errno::EFAULT.name(), "EFAULT");
    }

    #[test]
    fn mach_errors_map_as_xnu_does() {
        use mach::KernReturn as K;
        assert_eq!(Errno::from(mach::CopyFault { copied: 3 }), Errno::EFAULT);
        assert_eq!(Errno::from(K::KERN_INVALID_ADDRESS), Errno::EINVAL);
        assert_eq!(Errno::from(K::KERN_PROTECTION_FAILURE), Errno::EACCES);
        assert_eq!(Errno::from(K::KERN_RESOURCE_SHORTAGE), Errno::ENOMEM);
        assert_eq!(Errno::from(K::KERN_FAILURE), Errno::EIO);
        assert_eq!(Errno::from(K::KERN_ABORTED), Errno::EINTR);
        assert_eq!(Errno::from(K::KERN_NAME_EXISTS), Errno::EEXIST);
        assert_eq!(Errno::from(K::KERN_OPERATION_TIMED_OUT), Errno::ETIMEDOUT);
    }
}
