//! `posix_spawn`'s file actions (XNU's `posix_spawn_file_actions` handling in
//! `kern_exec.c`): the block user space hands the kernel — a header, then fixed-size
//! actions (open, close, dup2, inherit) — decoded into [`FileAction`]s before anything is
//! done. Pure, so the parser of this user-supplied block runs under `cargo test`.

use alloc::vec::Vec;

use sys::Errno;
use sys::param::PATH_MAX;
use sys::spawn::{
    PSFA_ACTION_SIZE, PSFA_CHDIR, PSFA_CHDIR_PATH_OFFSET, PSFA_CLOSE, PSFA_DUP2, PSFA_FCHDIR,
    PSFA_FILEPORT_DUP2, PSFA_INHERIT, PSFA_OPEN, PosixSpawnFileActionsHead, PsfaAction,
};
use zerocopy::FromBytes;

/// Most actions one spawn takes (the largest block accepted is this many).
pub const MAX_FILE_ACTIONS: usize = 64;

/// One file action, checked: descriptors are not negative, an open's path is NUL-terminated
/// (held without the NUL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileAction {
    Open {
        fd: i32,
        oflag: u32,
        mode: u16,
        path: Vec<u8>,
    },
    Close {
        fd: i32,
    },
    Dup2 {
        fd: i32,
        newfd: i32,
    },
    Inherit {
        fd: i32,
    },
    /// The file fileport `port` (a name in the spawner's space) stands for, at `newfd`.
    FileportDup2 {
        port: u32,
        newfd: i32,
    },
    /// The child's working directory becomes `path` (later relative paths, the program's
    /// included, start there).
    Chdir {
        path: Vec<u8>,
    },
    /// The child's working directory becomes the directory open on `fd`.
    Fchdir {
        fd: i32,
    },
}

/// Decode the file-actions block (its header, then `count` actions): EINVAL for a bad count
/// or one the block does not hold, EBADF for a negative descriptor, ENAMETOOLONG for a path
/// with no NUL, ENOTSUP for an action kind XNU does not have.
pub fn parse_file_actions(block: &[u8]) -> Result<Vec<FileAction>, Errno> {
    let (head, actions) = PosixSpawnFileActionsHead::read_from_prefix(block).map_err(|_| Errno::EINVAL)?;
    let (count, alloc) = (head.psfa_act_count, head.psfa_act_alloc);
    if count < 0 || count > alloc || count as usize > MAX_FILE_ACTIONS {
        return Err(Errno::EINVAL);
    }
    let mut out = Vec::new();
    for i in 0..count as usize {
        let raw = actions.get(i * PSFA_ACTION_SIZE..(i + 1) * PSFA_ACTION_SIZE).ok_or(Errno::EINVAL)?;
        let a = PsfaAction::read_from_bytes(raw).map_err(|_| Errno::EINVAL)?;
        let fd = a.psfaa_filedes;
        if a.psfaa_type == PSFA_FILEPORT_DUP2 {
            // The first word is a port name there, any 32-bit value.
            let newfd = a.psfao_oflag;
            if newfd < 0 {
                return Err(Errno::EBADF);
            }
            out.push(FileAction::FileportDup2 { port: fd as u32, newfd });
            continue;
        }
        if fd < 0 && a.psfaa_type != PSFA_CHDIR {
            return Err(Errno::EBADF);
        }
        out.push(match a.psfaa_type {
            PSFA_OPEN => {
                let len = a.psfao_path.iter().position(|&b| b == 0).ok_or(Errno::ENAMETOOLONG)?;
                let path = a.psfao_path[..len].to_vec();
                FileAction::Open { fd, oflag: a.psfao_oflag as u32, mode: a.psfao_mode, path }
            }
            PSFA_CLOSE => FileAction::Close { fd },
            PSFA_DUP2 => {
                let newfd = a.psfao_oflag;
                if newfd < 0 {
                    return Err(Errno::EBADF);
                }
                FileAction::Dup2 { fd, newfd }
            }
            PSFA_INHERIT => FileAction::Inherit { fd },
            PSFA_CHDIR => {
                let at = &raw[PSFA_CHDIR_PATH_OFFSET..PSFA_CHDIR_PATH_OFFSET + PATH_MAX];
                let len = at.iter().position(|&b| b == 0).ok_or(Errno::ENAMETOOLONG)?;
                FileAction::Chdir { path: at[..len].to_vec() }
            }
            PSFA_FCHDIR => FileAction::Fchdir { fd },
            _ => return Err(Errno::ENOTSUP),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::spawn::FILE_ACTIONS_HEADER;
    use zerocopy::IntoBytes;

    fn block(alloc: i32, actions: &[PsfaAction]) -> Vec<u8> {
        let head = PosixSpawnFileActionsHead { psfa_act_alloc: alloc, psfa_act_count: actions.len() as i32 };
        let mut b = head.as_bytes().to_vec();
        for a in actions {
            b.extend_from_slice(a.as_bytes());
        }
        b
    }

    fn action(kind: u32, fd: i32, arg: i32) -> PsfaAction {
        PsfaAction { psfaa_type: kind, psfaa_filedes: fd, psfao_oflag: arg, ..PsfaAction::default() }
    }

    #[test]
    fn directory_and_fileport_actions_decode() {
        use zerocopy::FromBytes;
        // A chdir path sits where an open's flags start (XNU's psfaa_chdirargs union member).
        let mut raw = [0u8; PSFA_ACTION_SIZE];
        raw[..4].copy_from_slice(&PSFA_CHDIR.to_le_bytes());
        raw[PSFA_CHDIR_PATH_OFFSET..PSFA_CHDIR_PATH_OFFSET + 5].copy_from_slice(b"/tmp\0");
        let chdir = PsfaAction::read_from_bytes(&raw).unwrap();
        // A fileport name is any 32-bit value, even one that is negative as an int.
        let fileport = action(PSFA_FILEPORT_DUP2, 0x8000_0103_u32 as i32, 4);
        let b = block(3, &[chdir, action(PSFA_FCHDIR, 5, 0), fileport]);
        assert_eq!(
            parse_file_actions(&b),
            Ok(alloc::vec![
                FileAction::Chdir { path: b"/tmp".to_vec() },
                FileAction::Fchdir { fd: 5 },
                FileAction::FileportDup2 { port: 0x8000_0103, newfd: 4 },
            ])
        );
        assert_eq!(parse_file_actions(&block(1, &[action(PSFA_FCHDIR, -1, 0)])), Err(Errno::EBADF));
        let bad_newfd = action(PSFA_FILEPORT_DUP2, 7, -2);
        assert_eq!(parse_file_actions(&block(1, &[bad_newfd])), Err(Errno::EBADF));
    }

    #[test]
    fn each_kind_decodes() {
        let mut open = action(PSFA_OPEN, 3, 0x601);
        open.psfao_mode = 0o644;
        open.psfao_path[..9].copy_from_slice(b"/tmp/out\0");
        let b =
            block(4, &[open, action(PSFA_CLOSE, 0, 0), action(PSFA_DUP2, 3, 1), action(PSFA_INHERIT, 2, 0)]);
        assert_eq!(
            parse_file_actions(&b),
            Ok(alloc::vec![
                FileAction::Open { fd: 3, oflag: 0x601, mode: 0o644, path: b"/tmp/out".to_vec() },
                FileAction::Close { fd: 0 },
                FileAction::Dup2 { fd: 3, newfd: 1 },
                FileAction::Inherit { fd: 2 },
            ])
        );
        assert_eq!(parse_file_actions(&block(0, &[])), Ok(Vec::new()));
    }

    #[test]
    fn bad_blocks_are_refused() {
        let close = action(PSFA_CLOSE, 1, 0);
        assert_eq!(parse_file_actions(&[0; FILE_ACTIONS_HEADER - 1]), Err(Errno::EINVAL), "no header");
        assert_eq!(parse_file_actions(&block(0, &[close])), Err(Errno::EINVAL), "count above alloc");
        let mut short = block(1, &[close]);
        short.pop();
        assert_eq!(parse_file_actions(&short), Err(Errno::EINVAL), "the block ends inside an action");
        let mut neg = block(1, &[close]);
        neg[4..8].copy_from_slice(&(-1i32).to_le_bytes());
        assert_eq!(parse_file_actions(&neg), Err(Errno::EINVAL), "negative count");
        let many = alloc::vec![close; MAX_FILE_ACTIONS + 1];
        assert_eq!(parse_file_actions(&block(100, &many)), Err(Errno::EINVAL), "too many");
        assert_eq!(parse_file_actions(&block(1, &[action(PSFA_CLOSE, -1, 0)])), Err(Errno::EBADF));
        assert_eq!(parse_file_actions(&block(1, &[action(PSFA_DUP2, 1, -5)])), Err(Errno::EBADF));
        let mut open = action(PSFA_OPEN, 1, 0);
        open.psfao_path = [b'a'; sys::param::PATH_MAX];
        assert_eq!(parse_file_actions(&block(1, &[open])), Err(Errno::ENAMETOOLONG), "no NUL");
        assert_eq!(parse_file_actions(&block(1, &[action(9, 1, 0)])), Err(Errno::ENOTSUP));
        // A chdir path must end within PATH_MAX bytes.
        let mut chdir = action(PSFA_CHDIR, 0, 0);
        chdir.psfao_oflag = i32::from_le_bytes(*b"aaaa");
        chdir.psfao_mode = u16::from_le_bytes(*b"aa");
        chdir.psfao_path = [b'a'; 1024];
        assert_eq!(parse_file_actions(&block(1, &[chdir])), Err(Errno::ENAMETOOLONG));
    }

    /// Random blocks (random headers, kinds, descriptors and paths, random lengths) never
    /// panic, and what they decode to obeys the rules.
    #[test]
    fn random_blocks_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100_000 {
            let n = (next() % 4) as usize;
            let mut actions = Vec::new();
            for _ in 0..n {
                let r = next();
                let mut a = action((r % 8) as u32, (r >> 8) as i8 as i32, (r >> 16) as i8 as i32);
                if r & (1 << 40) != 0 {
                    a.psfao_path.fill(b'x');
                }
                actions.push(a);
            }
            let mut b = block((next() % 6) as i32 - 1, &actions);
            b.truncate((next() as usize) % (b.len() + 1));
            if let Ok(got) = parse_file_actions(&b) {
                assert!(got.len() <= n);
                for a in got {
                    match a {
                        FileAction::Open { fd, path, .. } => assert!(fd >= 0 && !path.contains(&0)),
                        FileAction::Dup2 { fd, newfd } => assert!(fd >= 0 && newfd >= 0),
                        FileAction::Close { fd } | FileAction::Inherit { fd } | FileAction::Fchdir { fd } => {
                            assert!(fd >= 0)
                        }
                        FileAction::FileportDup2 { newfd, .. } => assert!(newfd >= 0),
                        FileAction::Chdir { path } => assert!(path.len() < PATH_MAX && !path.contains(&0)),
                    }
                }
            }
        }
    }
}
