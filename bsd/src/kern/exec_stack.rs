//! The initial user stack `execve` hands a new program (XNU's `exec_copyout_strings`), laid
//! out as Darwin does for a static binary. From the entry `sp` upwards:
//!
//! ```text
//! sp ->  argc                        u64
//!        argv[0] .. argv[argc-1]     pointers into the strings below
//!        NULL
//!        envp[0] .. envp[n-1]
//!        NULL
//!        apple[0] .. apple[m-1]      "apple" strings, e.g. executable_path=/sbin/init
//!        NULL
//!        argv, envp, apple strings   each NUL-terminated, in that order
//!        zero padding                up to stack_top
//! ```
//!
//! `sp` is 16-byte aligned, as AArch64 requires of SP at any access through it.

use alloc::vec::Vec;

use sys::Errno;

/// The most bytes the whole image — pointers and strings — may take. XNU allows 1 MiB
/// (`ARG_MAX` in `sys/syslimits.h`) for the strings alone; 256 KiB is our choice, ample for
/// a shell and small enough to copy out without worry.
pub const ARG_MAX: usize = 256 * 1024;

/// AArch64 needs SP 16-byte aligned when it is used to access memory.
const STACK_ALIGN: u64 = 16;

const PTR_SIZE: usize = core::mem::size_of::<u64>();

/// A ready initial stack: copy `image` to user memory at `[sp, stack_top)` and start the
/// thread with SP = `sp`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExecStack {
    /// The initial stack pointer; `argc` is here.
    pub sp: u64,
    /// The bytes from `sp` to the `stack_top` given.
    pub image: Vec<u8>,
}

/// Lays out `argv`, `envp` and the apple strings below `stack_top`.
///
/// Errors: a string containing NUL `EINVAL`; an image over [`ARG_MAX`] `E2BIG`; a
/// `stack_top` too low to hold the image `EINVAL`.
pub fn build_exec_stack(
    stack_top: u64,
    argv: &[&[u8]],
    envp: &[&[u8]],
    apple: &[&[u8]],
) -> Result<ExecStack, Errno> {
    let groups = [argv, envp, apple];
    if groups.iter().flat_map(|g| g.iter()).any(|s| s.contains(&0)) {
        return Err(Errno::EINVAL);
    }

    // argc, then each group's pointers and its NULL.
    let ptr_count = groups.iter().map(|g| g.len() + 1).sum::<usize>() + 1;
    let strings_len: usize = groups.iter().flat_map(|g| g.iter()).map(|s| s.len() + 1).sum();
    let used = ptr_count
        .checked_mul(PTR_SIZE)
        .and_then(|p| p.checked_add(strings_len))
        .filter(|&used| used <= ARG_MAX)
        .ok_or(Errno::E2BIG)?;

    // `used` is at most ARG_MAX, so it fits in a u64.
    let sp = stack_top.checked_sub(used as u64).ok_or(Errno::EINVAL)? & !(STACK_ALIGN - 1);
    let image_len = usize::try_from(stack_top - sp).map_err(|_| Errno::EINVAL)?;

    let mut ptrs: Vec<u8> = Vec::with_capacity(image_len);
    let mut strings: Vec<u8> = Vec::with_capacity(strings_len);
    let strings_base = sp + (ptr_count * PTR_SIZE) as u64;
    ptrs.extend_from_slice(&(argv.len() as u64).to_le_bytes());
    for group in groups {
        for s in group {
            let addr = strings_base + strings.len() as u64;
            ptrs.extend_from_slice(&addr.to_le_bytes());
            strings.extend_from_slice(s);
            strings.push(0);
        }
        ptrs.extend_from_slice(&0u64.to_le_bytes());
    }
    let mut image = ptrs;
    image.extend_from_slice(&strings);
    image.resize(image_len, 0);
    Ok(ExecStack { sp, image })
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    const TOP: u64 = 0x0000_7fff_ffff_f000;

    /// What a C runtime reads at entry: argc, then three NULL-terminated pointer arrays.
    #[derive(Debug, PartialEq)]
    struct Decoded {
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        apple: Vec<Vec<u8>>,
    }

    fn word(st: &ExecStack, addr: u64) -> u64 {
        let at = (addr - st.sp) as usize;
        u64::from_le_bytes(st.image[at..at + 8].try_into().unwrap())
    }

    fn string(st: &ExecStack, addr: u64) -> Vec<u8> {
        let at = (addr - st.sp) as usize;
        let len = st.image[at..].iter().position(|&b| b == 0).unwrap();
        st.image[at..at + len].to_vec()
    }

    fn decode(st: &ExecStack) -> Decoded {
        let argc = word(st, st.sp);
        let mut addr = st.sp + 8;
        let mut array = |expect: Option<u64>| {
            let mut out = Vec::new();
            loop {
                let p = word(st, addr);
                addr += 8;
                if p == 0 {
                    break;
                }
                assert!(p >= st.sp && p < TOP, "pointer {p:#x} outside the image");
                out.push(string(st, p));
            }
            if let Some(n) = expect {
                assert_eq!(out.len() as u64, n);
            }
            out
        };
        let argv = array(Some(argc));
        let envp = array(None);
        let apple = array(None);
        Decoded { argv, envp, apple }
    }

    fn strs(v: &[&[u8]]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.to_vec()).collect()
    }

    #[test]
    fn init_stack_round_trips() {
        let argv: &[&[u8]] = &[b"/sbin/init", b"-s"];
        let envp: &[&[u8]] = &[b"PATH=/bin:/sbin", b"HOME=/", b"TERM=vt100"];
        let apple: &[&[u8]] = &[b"executable_path=/sbin/init"];
        let st = build_exec_stack(TOP, argv, envp, apple).unwrap();
        assert_eq!(st.sp % 16, 0);
        assert_eq!(st.sp + st.image.len() as u64, TOP);
        assert_eq!(decode(&st), Decoded { argv: strs(argv), envp: strs(envp), apple: strs(apple) });
    }

    #[test]
    fn layout_is_argc_then_pointers_then_strings() {
        let st = build_exec_stack(TOP, &[b"a"], &[], &[b"p=x"]).unwrap();
        // argc, argv[0], NULL, NULL (envp), apple[0], NULL, then "a\0p=x\0".
        assert_eq!(word(&st, st.sp), 1);
        assert_eq!(word(&st, st.sp + 8), st.sp + 48);
        assert_eq!(word(&st, st.sp + 16), 0);
        assert_eq!(word(&st, st.sp + 24), 0);
        assert_eq!(word(&st, st.sp + 32), st.sp + 50);
        assert_eq!(word(&st, st.sp + 40), 0);
        assert_eq!(&st.image[48..54], b"a\0p=x\0");
        assert!(st.image[54..].iter().all(|&b| b == 0));
    }

    #[test]
    fn empty_everything() {
        let st = build_exec_stack(TOP, &[], &[], &[]).unwrap();
        assert_eq!(st.image.len(), 32);
        assert!(st.image.iter().all(|&b| b == 0));
        assert_eq!(decode(&st), Decoded { argv: vec![], envp: vec![], apple: vec![] });
    }

    #[test]
    fn empty_strings_are_fine() {
        let st = build_exec_stack(TOP, &[b"", b"x"], &[b""], &[]).unwrap();
        assert_eq!(decode(&st).argv, strs(&[b"", b"x"]));
        assert_eq!(decode(&st).envp, strs(&[b""]));
    }

    #[test]
    fn sp_is_aligned_for_any_top() {
        for top in TOP - 17..=TOP {
            for n in 0..20 {
                let arg = vec![b'x'; n];
                let st = build_exec_stack(top, &[&arg], &[], &[]).unwrap();
                assert_eq!(st.sp % 16, 0);
                assert_eq!(st.sp + st.image.len() as u64, top);
                assert_eq!(decode(&st).argv, [arg]);
            }
        }
    }

    #[test]
    fn nul_inside_a_string_is_einval() {
        assert_eq!(build_exec_stack(TOP, &[b"a\0b"], &[], &[]), Err(Errno::EINVAL));
        assert_eq!(build_exec_stack(TOP, &[], &[b"\0"], &[]), Err(Errno::EINVAL));
        assert_eq!(build_exec_stack(TOP, &[], &[], &[b"x\0"]), Err(Errno::EINVAL));
    }

    #[test]
    fn arg_max_bounds_the_whole_image() {
        // argc + argv[0] + three NULLs = 40 bytes of pointers, plus the string's NUL.
        let fits = vec![b'a'; ARG_MAX - 40 - 1];
        let st = build_exec_stack(TOP, &[&fits], &[], &[]).unwrap();
        assert_eq!(decode(&st).argv[0].len(), fits.len());
        let over = vec![b'a'; ARG_MAX - 40];
        assert_eq!(build_exec_stack(TOP, &[&over], &[], &[]), Err(Errno::E2BIG));
        // Many empty strings count too: pointers are part of the budget.
        let many: Vec<&[u8]> = vec![b""; ARG_MAX / 9];
        assert_eq!(build_exec_stack(TOP, &[], &many, &[]), Err(Errno::E2BIG));
    }

    #[test]
    fn stack_top_too_low_is_einval() {
        assert_eq!(build_exec_stack(16, &[b"abc"], &[], &[]), Err(Errno::EINVAL));
        assert!(build_exec_stack(48, &[], &[], &[]).is_ok());
    }
}
