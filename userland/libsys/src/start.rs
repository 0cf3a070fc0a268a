//! Process entry: `_start` receives the stack the kernel built (argc, argv, envp, apple
//! strings; see `bsd::kern::exec_stack`), hands it to `main` and exits with its status.

/// The program's arguments, environment and "apple" strings, as NUL-terminated C strings.
pub struct Args {
    sp: *const u64,
}

impl Args {
    fn argc(&self) -> usize {
        // SAFETY: `sp` points at the argc word the kernel wrote.
        unsafe { *self.sp as usize }
    }

    fn vector(&self, index: usize) -> impl Iterator<Item = &'static [u8]> {
        // The three NULL-terminated vectors follow argc back to back.
        // SAFETY: the kernel laid out argc, argv, NULL, envp, NULL, apple, NULL above `sp`.
        let mut p = unsafe { self.sp.add(1) };
        for _ in 0..index {
            // SAFETY: as above; we stop at each NULL.
            unsafe {
                while *p != 0 {
                    p = p.add(1);
                }
                p = p.add(1);
            }
        }
        core::iter::from_fn(move || {
            // SAFETY: within a vector, up to and including its NULL terminator.
            let s = unsafe { *p };
            if s == 0 {
                return None;
            }
            // SAFETY: as above.
            p = unsafe { p.add(1) };
            // SAFETY: every pointer names a NUL-terminated string in the stack image.
            Some(unsafe { cstr(s as *const u8) })
        })
    }

    /// argv.
    pub fn argv(&self) -> impl Iterator<Item = &'static [u8]> {
        self.vector(0).take(self.argc())
    }

    /// envp.
    pub fn envp(&self) -> impl Iterator<Item = &'static [u8]> {
        self.vector(1)
    }

    /// The apple strings (`executable_path=…`).
    pub fn apple(&self) -> impl Iterator<Item = &'static [u8]> {
        self.vector(2)
    }

    /// The address just past the last apple string: inside the top of the initial stack.
    pub fn strings_end(&self) -> u64 {
        self.apple().last().map_or(0, |s| s.as_ptr() as u64 + s.len() as u64 + 1)
    }
}

/// # Safety
/// `p` must point at a NUL-terminated string that lives forever.
unsafe fn cstr(p: *const u8) -> &'static [u8] {
    let mut n = 0;
    // SAFETY: per the contract, every byte up to the NUL is readable.
    unsafe {
        while *p.add(n) != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(p, n)
    }
}

core::arch::global_asm!(
    r#"
.section .text._start, "ax"
.global _start
_start:
    mov     x0, sp
    mov     x29, xzr
    mov     x30, xzr
    bl      __libsys_start
1:  b       1b
"#
);

unsafe extern "Rust" {
    fn __libsys_main(args: &Args) -> i32;
}

#[unsafe(no_mangle)]
extern "C" fn __libsys_start(sp: *const u64) -> ! {
    let args = Args { sp };
    // SAFETY: `entry!` defines `__libsys_main` with this signature in every program.
    let status = unsafe { __libsys_main(&args) };
    crate::syscall::exit_process(status)
}

/// Name the program's `fn main(&Args) -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __libsys_main(args: &$crate::Args) -> i32 {
            $main(args)
        }

        #[panic_handler]
        fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
            $crate::println!("panic: {}", info.message());
            $crate::syscall::exit_process(101)
        }
    };
}
