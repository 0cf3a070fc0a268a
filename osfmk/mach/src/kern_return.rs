//! `kern_return_t` (XNU `osfmk/mach/kern_return.h`, reference §6).

/// A Mach result code; `KERN_SUCCESS` is 0. Traps return it in x0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct KernReturn(pub i32);

macro_rules! kern_returns {
    ($( $name:ident = $val:literal, )*) => {
        impl KernReturn {
            $( #[doc = stringify!($name)] pub const $name: KernReturn = KernReturn($val); )*

            /// The symbolic name, for logs and test output.
            pub fn name(self) -> &'static str {
                match self.0 { $( $val => stringify!($name), )* _ => "KERN_?" }
            }
        }
    };
}

kern_returns! {
    KERN_SUCCESS = 0, KERN_INVALID_ADDRESS = 1, KERN_PROTECTION_FAILURE = 2, KERN_NO_SPACE = 3,
    KERN_INVALID_ARGUMENT = 4, KERN_FAILURE = 5, KERN_RESOURCE_SHORTAGE = 6,
    KERN_NOT_RECEIVER = 7, KERN_NO_ACCESS = 8, KERN_MEMORY_FAILURE = 9, KERN_MEMORY_ERROR = 10,
    KERN_ALREADY_IN_SET = 11, KERN_NOT_IN_SET = 12, KERN_NAME_EXISTS = 13, KERN_ABORTED = 14,
    KERN_INVALID_NAME = 15, KERN_INVALID_TASK = 16, KERN_INVALID_RIGHT = 17,
    KERN_INVALID_VALUE = 18, KERN_UREFS_OVERFLOW = 19, KERN_INVALID_CAPABILITY = 20,
    KERN_RIGHT_EXISTS = 21, KERN_INVALID_HOST = 22, KERN_MEMORY_PRESENT = 23,
    KERN_TERMINATED = 37, KERN_SEMAPHORE_DESTROYED = 42, KERN_NOT_SUPPORTED = 46, KERN_NOT_WAITING = 48,
    KERN_OPERATION_TIMED_OUT = 49,
    KERN_DENIED = 53, KERN_NOT_FOUND = 56,
}

impl KernReturn {
    /// The code a trap left in register x0: a `kern_return_t` is an `int`, the register's low
    /// 32 bits (what a raw trap call or a fuzzer reads back).
    pub const fn from_reg(x0: u64) -> KernReturn {
        KernReturn(x0 as u32 as i32)
    }

    /// `Ok(())` for `KERN_SUCCESS`, the code otherwise.
    pub fn into_result(self) -> Result<(), KernReturn> {
        if self == KernReturn::KERN_SUCCESS { Ok(()) } else { Err(self) }
    }
}

/// A copy between kernel and user memory that stopped at a user address it could not use
/// (unmapped, protected, or outside user space). Mach reports it as `KERN_INVALID_ADDRESS`;
/// BSD as `EFAULT` (`sys::Errno` converts it), so a handler's `?` gives each its own code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CopyFault {
    /// Bytes moved before the copy stopped.
    pub copied: usize,
}

impl From<CopyFault> for KernReturn {
    fn from(_: CopyFault) -> KernReturn {
        KernReturn::KERN_INVALID_ADDRESS
    }
}
