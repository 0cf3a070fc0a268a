//! The C runtime's headers (`userland/c/include`) repeat ABI constants for C programs; this
//! host test holds every value they define to the one in this crate, so the ABI keeps one
//! source of truth. `<sys/mman.h>` has its own check beside the constants (`mman.rs`).

#[cfg(test)]
mod tests {
    use crate::Errno;
    use crate::{fcntl, poll, signal, stat, wait};

    /// The `#define NAME VALUE` lines of `header` whose value is a number (octal with a
    /// leading 0, hex with 0x), as (name, value).
    fn numeric_defines(header: &str) -> impl Iterator<Item = (&str, i64)> + '_ {
        header.lines().filter_map(|line| {
            let mut words = line.split_whitespace();
            let (Some("#define"), Some(name), Some(value)) = (words.next(), words.next(), words.next())
            else {
                return None;
            };
            if name.contains('(') {
                return None; // a macro, not a constant
            }
            let parsed = if let Some(hex) = value.strip_prefix("0x") {
                i64::from_str_radix(hex, 16)
            } else if value.len() > 1 && value.starts_with('0') {
                i64::from_str_radix(&value[1..], 8)
            } else {
                value.parse()
            };
            parsed.ok().map(|v| (name, v))
        })
    }

    /// Checks each numeric constant of `header` with `ours` (None: a name this test does not
    /// know, which fails) and returns how many it checked.
    fn check(header: &str, ours: impl Fn(&str) -> Option<i64>) -> usize {
        let mut checked = 0;
        for (name, value) in numeric_defines(header) {
            match ours(name) {
                Some(v) => assert_eq!(value, v, "{name}"),
                None => panic!("a C header defines {name}, which this test does not know"),
            }
            checked += 1;
        }
        checked
    }

    #[test]
    fn fcntl_h_agrees() {
        let n = check(include_str!("../../../userland/c/include/fcntl.h"), |name| {
            Some(i64::from(match name {
                "O_RDONLY" => fcntl::O_RDONLY,
                "O_WRONLY" => fcntl::O_WRONLY,
                "O_RDWR" => fcntl::O_RDWR,
                "O_NONBLOCK" => fcntl::O_NONBLOCK,
                "O_APPEND" => fcntl::O_APPEND,
                "O_CREAT" => fcntl::O_CREAT,
                "O_TRUNC" => fcntl::O_TRUNC,
                "O_EXCL" => fcntl::O_EXCL,
                "O_DIRECTORY" => fcntl::O_DIRECTORY,
                "O_CLOEXEC" => fcntl::O_CLOEXEC,
                _ => return None,
            }))
        });
        assert_eq!(n, 10);
    }

    #[test]
    fn errno_h_agrees() {
        let n = check(include_str!("../../../userland/c/include/errno.h"), |name| {
            Some(i64::from(
                match name {
                    "ENOENT" => Errno::ENOENT,
                    "EBADF" => Errno::EBADF,
                    "EEXIST" => Errno::EEXIST,
                    "ENOTDIR" => Errno::ENOTDIR,
                    "EISDIR" => Errno::EISDIR,
                    "EINVAL" => Errno::EINVAL,
                    "EMFILE" => Errno::EMFILE,
                    "EPIPE" => Errno::EPIPE,
                    "ENOTEMPTY" => Errno::ENOTEMPTY,
                    "ENXIO" => Errno::ENXIO,
                    "EACCES" => Errno::EACCES,
                    "EAGAIN" => Errno::EAGAIN,
                    "ENODEV" => Errno::ENODEV,
                    _ => return None,
                }
                .0,
            ))
        });
        assert_eq!(n, 13);
    }

    #[test]
    fn stat_wait_and_dirent_h_agree() {
        let n = check(include_str!("../../../userland/c/include/sys/stat.h"), |name| {
            Some(i64::from(match name {
                "S_IFMT" => stat::S_IFMT,
                "S_IFIFO" => stat::S_IFIFO,
                "S_IFCHR" => stat::S_IFCHR,
                "S_IFDIR" => stat::S_IFDIR,
                "S_IFREG" => stat::S_IFREG,
                "S_IFLNK" => stat::S_IFLNK,
                _ => return None,
            }))
        });
        assert_eq!(n, 6);
        let n = check(include_str!("../../../userland/c/include/sys/wait.h"), |name| match name {
            "WNOHANG" => Some(i64::from(wait::WNOHANG)),
            _ => None,
        });
        assert_eq!(n, 1);
        let n = check(include_str!("../../../userland/c/include/signal.h"), |name| {
            Some(i64::from(match name {
                "SIGKILL" => signal::SIGKILL,
                "SIGBUS" => signal::SIGBUS,
                "SIGSEGV" => signal::SIGSEGV,
                _ => return None,
            }))
        });
        assert_eq!(n, 3);
        // A directory record's type is its file type's S_IFMT bits shifted down (XNU's
        // IFTODT), so the dirent.h values follow from the mode bits above.
        let n = check(include_str!("../../../userland/c/include/dirent.h"), |name| {
            let mode = match name {
                "DT_UNKNOWN" => 0,
                "DT_FIFO" => stat::S_IFIFO,
                "DT_CHR" => stat::S_IFCHR,
                "DT_DIR" => stat::S_IFDIR,
                "DT_REG" => stat::S_IFREG,
                "DT_LNK" => stat::S_IFLNK,
                _ => return None,
            };
            Some(i64::from(mode >> 12))
        });
        assert_eq!(n, 6);
    }

    #[test]
    fn poll_select_and_unistd_h_agree() {
        let n = check(include_str!("../../../userland/c/include/poll.h"), |name| {
            Some(i64::from(match name {
                "POLLIN" => poll::POLLIN,
                "POLLPRI" => poll::POLLPRI,
                "POLLOUT" => poll::POLLOUT,
                "POLLRDNORM" => poll::POLLRDNORM,
                "POLLWRNORM" => poll::POLLWRNORM,
                "POLLRDBAND" => poll::POLLRDBAND,
                "POLLWRBAND" => poll::POLLWRBAND,
                "POLLEXTEND" => poll::POLLEXTEND,
                "POLLATTRIB" => poll::POLLATTRIB,
                "POLLNLINK" => poll::POLLNLINK,
                "POLLWRITE" => poll::POLLWRITE,
                "POLLERR" => poll::POLLERR,
                "POLLHUP" => poll::POLLHUP,
                "POLLNVAL" => poll::POLLNVAL,
                _ => return None,
            }))
        });
        assert_eq!(n, 14);
        let n = check(include_str!("../../../userland/c/include/sys/select.h"), |name| match name {
            "FD_SETSIZE" => Some(poll::FD_SETSIZE as i64),
            "NFDBITS" => Some(poll::NFDBITS as i64),
            _ => None,
        });
        assert_eq!(n, 2);
        let n = check(include_str!("../../../userland/c/include/unistd.h"), |name| {
            Some(i64::from(match name {
                "SEEK_SET" => fcntl::SEEK_SET,
                "SEEK_CUR" => fcntl::SEEK_CUR,
                "SEEK_END" => fcntl::SEEK_END,
                "F_OK" => fcntl::F_OK,
                "X_OK" => fcntl::X_OK,
                "W_OK" => fcntl::W_OK,
                "R_OK" => fcntl::R_OK,
                _ => return None,
            }))
        });
        assert_eq!(n, 7);
        let n = check(include_str!("../../../userland/c/include/sys/file.h"), |name| {
            Some(i64::from(match name {
                "LOCK_SH" => fcntl::LOCK_SH,
                "LOCK_EX" => fcntl::LOCK_EX,
                "LOCK_NB" => fcntl::LOCK_NB,
                "LOCK_UN" => fcntl::LOCK_UN,
                _ => return None,
            }))
        });
        assert_eq!(n, 4);
    }
}
