//! Path lookup (XNU's `namei`/`lookup` in `vfs_lookup.c`): from a path to the vnode it names.
//!
//! The walk starts at the process's root for an absolute path and at its working directory
//! otherwise, and takes one component at a time. `..` never climbs above the root it was
//! given. A symbolic link is expanded in place — its target followed by whatever path was
//! still to walk — and walked again: from the root when the target is absolute, from the
//! link's own directory when it is relative. Each expansion counts against
//! [`MAXSYMLINKS`], so a cycle ends in `ELOOP` rather than spinning.

use alloc::sync::Arc;
use alloc::vec::Vec;

use sys::Errno;
use sys::stat::S_IXOTH;

use super::vnode::{VType, VnodeRef};
use super::{MAXPATHLEN, MAXSYMLINKS, NAME_MAX};

/// Looks up `path`, from `root` if it starts with `/` and from `cwd` otherwise.
///
/// A symbolic link as the last component is followed only if `follow_last` is set (callers
/// like `lstat` and `readlink` want the link itself) or if the path ends in `/`, which asks
/// for a directory. Errors: an empty path or a missing component `ENOENT`; a path of
/// [`MAXPATHLEN`] bytes or more (so no room for its NUL), or a component longer than
/// [`NAME_MAX`], `ENAMETOOLONG`; a non-directory where a directory is needed — before
/// another component or a trailing `/` — `ENOTDIR`; more than [`MAXSYMLINKS`] links `ELOOP`;
/// a NUL inside the path `EINVAL`.
pub fn namei(root: &VnodeRef, cwd: &VnodeRef, path: &[u8], follow_last: bool) -> Result<VnodeRef, Errno> {
    namei_as(root, cwd, path, follow_last, true)
}

/// [`namei`] on behalf of a caller who is root (`root_user`) or not: a caller who is not
/// needs search permission on every directory the walk looks a name up in (files have no
/// owners yet, so the "other" execute bit), else `EACCES` — as XNU's `lookup` asks
/// `vnode_authorize(KAUTH_VNODE_SEARCH)` of each directory.
pub fn namei_as(
    root: &VnodeRef,
    cwd: &VnodeRef,
    path: &[u8],
    follow_last: bool,
    root_user: bool,
) -> Result<VnodeRef, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= MAXPATHLEN {
        return Err(Errno::ENAMETOOLONG);
    }
    if path.contains(&0) {
        return Err(Errno::EINVAL);
    }

    // The path still to walk is `pending[pos..]`; a symlink replaces it.
    let mut pending: Vec<u8> = path.to_vec();
    let mut pos = 0;
    let mut dir = if path.starts_with(b"/") { root.clone() } else { cwd.clone() };
    let mut links = 0;
    loop {
        let rest = pending.get(pos..).unwrap_or_default();
        let Some(skip) = rest.iter().position(|&b| b != b'/') else {
            // Nothing but slashes left: the path named the directory we are in.
            return Ok(dir);
        };
        let rest = &rest[skip..];
        let name_len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        let is_last = after.iter().all(|&b| b == b'/');
        let trailing_slash = is_last && !after.is_empty();
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }

        if !root_user && dir.vtype() == VType::VDIR && dir.mode() & S_IXOTH == 0 {
            return Err(Errno::EACCES);
        }
        let vp = if name == b".." && Arc::ptr_eq(&dir, root) { dir.clone() } else { dir.lookup(name)? };

        if vp.vtype() == VType::VLNK && (!is_last || follow_last || trailing_slash) {
            if links >= MAXSYMLINKS {
                return Err(Errno::ELOOP);
            }
            links += 1;
            let mut expanded = vp.readlink()?;
            if expanded.is_empty() {
                return Err(Errno::ENOENT);
            }
            if expanded.len() + after.len() >= MAXPATHLEN {
                return Err(Errno::ENAMETOOLONG);
            }
            expanded.extend_from_slice(after);
            if expanded.starts_with(b"/") {
                dir = root.clone();
            }
            pending = expanded;
            pos = 0;
            continue;
        }

        if is_last {
            if trailing_slash && vp.vtype() != VType::VDIR {
                return Err(Errno::ENOTDIR);
            }
            return Ok(vp);
        }
        // If `vp` is not a directory, the next component's lookup says `ENOTDIR`.
        pos = pending.len() - after.len();
        dir = vp;
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use std::format;

    use super::*;
    use crate::fs::ramfs::ramfs_new_root;

    /// `/a/b/file`, `/a/empty/`, `/top`, plus links:
    /// `/a/b/up -> ..`, `/a/b/abs -> /a`, `/a/b/rel -> file`, `/a/b/dangling -> nowhere`,
    /// `/loop -> loop`, `/self -> .`.
    fn tree() -> VnodeRef {
        let root = ramfs_new_root();
        let a = root.mkdir(b"a", 0o755).unwrap();
        let b = a.mkdir(b"b", 0o755).unwrap();
        a.mkdir(b"empty", 0o755).unwrap();
        b.create(b"file", 0o644).unwrap().write_at(0, b"contents").unwrap();
        root.create(b"top", 0o644).unwrap();
        b.symlink(b"up", 0o755, b"..").unwrap();
        b.symlink(b"abs", 0o755, b"/a").unwrap();
        b.symlink(b"rel", 0o755, b"file").unwrap();
        b.symlink(b"dangling", 0o755, b"nowhere").unwrap();
        root.symlink(b"loop", 0o755, b"loop").unwrap();
        root.symlink(b"self", 0o755, b".").unwrap();
        root
    }

    fn at(root: &VnodeRef, path: &str) -> VnodeRef {
        namei(root, root, path.as_bytes(), true).unwrap()
    }

    fn same(x: &VnodeRef, y: &VnodeRef) -> bool {
        Arc::ptr_eq(x, y)
    }

    fn err(root: &VnodeRef, path: &[u8], follow: bool) -> Errno {
        namei(root, root, path, follow).unwrap_err()
    }

    #[test]
    fn absolute_and_relative() {
        let root = tree();
        let b = at(&root, "/a/b");
        let file = at(&root, "/a/b/file");
        assert_eq!(file.read_to_vec().unwrap(), b"contents");
        assert!(same(&namei(&root, &b, b"file", true).unwrap(), &file));
        assert!(same(&namei(&root, &b, b"/a/b/file", true).unwrap(), &file));
        assert!(same(&namei(&root, &b, b".", true).unwrap(), &b));
        assert!(same(&at(&root, "/"), &root));
        assert!(same(&at(&root, "///"), &root));
    }

    #[test]
    fn slashes_and_dots() {
        let root = tree();
        let file = at(&root, "/a/b/file");
        assert!(same(&at(&root, "//a///b//file"), &file));
        assert!(same(&at(&root, "/./a/./b/./file"), &file));
        assert!(same(&at(&root, "/a/b/../b/file"), &file));
        assert!(same(&at(&root, "/a/b/"), &at(&root, "/a/b")));
        assert!(same(&at(&root, "/a/b/."), &at(&root, "/a/b")));
    }

    #[test]
    fn dotdot_stops_at_the_given_root() {
        let root = tree();
        assert!(same(&at(&root, "/.."), &root));
        assert!(same(&at(&root, "/../../a/.."), &root));
        // A chroot-style root: `..` may not climb out of `/a`.
        let a = at(&root, "/a");
        let b = at(&root, "/a/b");
        assert!(same(&namei(&a, &b, b"../../../..", true).unwrap(), &a));
        assert!(same(&namei(&a, &a, b"/../b", true).unwrap(), &b));
        // The link `/a/b/abs -> /a` is absolute, so it lands on the chroot root itself.
        assert_eq!(namei(&a, &b, b"abs", true).unwrap_err(), Errno::ENOENT);
    }

    #[test]
    fn symlinks_in_the_middle_and_at_the_end() {
        let root = tree();
        let a = at(&root, "/a");
        let b = at(&root, "/a/b");
        let file = at(&root, "/a/b/file");
        // Relative targets resolve from the link's directory, absolute ones from the root.
        assert!(same(&at(&root, "/a/b/up"), &a));
        assert!(same(&at(&root, "/a/b/up/b/file"), &file));
        assert!(same(&at(&root, "/a/b/abs/b/rel"), &file));
        assert!(same(&namei(&root, &root, b"/a/b/rel", true).unwrap(), &file));
        assert!(same(&at(&root, "/self/self/a/b"), &b));
        // Not following the last one returns the link itself.
        let link = namei(&root, &root, b"/a/b/rel", false).unwrap();
        assert_eq!(link.vtype(), VType::VLNK);
        assert_eq!(link.readlink().unwrap(), b"file");
        // But a link in the middle is always followed.
        assert!(same(&namei(&root, &root, b"/a/b/up/b", false).unwrap(), &b));
    }

    #[test]
    fn trailing_slash_wants_a_directory() {
        let root = tree();
        assert_eq!(err(&root, b"/a/b/file/", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/top//", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/a/b/file/.", true), Errno::ENOTDIR);
        // A trailing slash follows a final link even without `follow_last`.
        let a = at(&root, "/a");
        assert!(same(&namei(&root, &root, b"/a/b/up/", false).unwrap(), &a));
        assert_eq!(err(&root, b"/a/b/rel/", false), Errno::ENOTDIR);
    }

    #[test]
    fn missing_and_not_a_directory() {
        let root = tree();
        assert_eq!(err(&root, b"", true), Errno::ENOENT);
        assert_eq!(err(&root, b"/nope", true), Errno::ENOENT);
        assert_eq!(err(&root, b"/a/nope/file", true), Errno::ENOENT);
        assert_eq!(err(&root, b"/a/b/dangling", true), Errno::ENOENT);
        assert_eq!(namei(&root, &root, b"/a/b/dangling", false).unwrap().vtype(), VType::VLNK);
        assert_eq!(err(&root, b"/top/x", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/a/b/rel/x", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/a/\0b", true), Errno::EINVAL);
    }

    #[test]
    fn symlink_loops_end_in_eloop() {
        let root = tree();
        assert_eq!(err(&root, b"/loop", true), Errno::ELOOP);
        assert_eq!(err(&root, b"/loop/x", false), Errno::ELOOP);
        assert_eq!(namei(&root, &root, b"/loop", false).unwrap().vtype(), VType::VLNK);

        // A chain of exactly MAXSYMLINKS links resolves; one more does not.
        let d = root.mkdir(b"chain", 0o755).unwrap();
        d.create(b"l0", 0o644).unwrap();
        for i in 1..=MAXSYMLINKS + 1 {
            d.symlink(format!("l{i}").as_bytes(), 0o755, format!("l{}", i - 1).as_bytes()).unwrap();
        }
        let ok = format!("/chain/l{MAXSYMLINKS}");
        assert_eq!(at(&root, &ok).vtype(), VType::VREG);
        let too_many = format!("/chain/l{}", MAXSYMLINKS + 1);
        assert_eq!(err(&root, too_many.as_bytes(), true), Errno::ELOOP);
    }

    #[test]
    fn length_limits() {
        let root = tree();
        // MAXPATHLEN counts the NUL, so MAXPATHLEN - 1 bytes is the longest path.
        let mut longest = b"/".repeat(MAXPATHLEN - 2);
        longest.push(b'a');
        assert!(same(&namei(&root, &root, &longest, true).unwrap(), &at(&root, "/a")));
        longest.insert(0, b'/');
        assert_eq!(err(&root, &longest, true), Errno::ENAMETOOLONG);

        let name = vec![b'n'; NAME_MAX];
        root.create(&name, 0o644).unwrap();
        let mut path = b"/".to_vec();
        path.extend_from_slice(&name);
        assert_eq!(at(&root, core::str::from_utf8(&path).unwrap()).vtype(), VType::VREG);
        path.push(b'n');
        assert_eq!(err(&root, &path, true), Errno::ENAMETOOLONG);
    }

    #[test]
    fn symlink_expansion_may_not_exceed_maxpathlen() {
        let root = tree();
        let target = b"/".repeat(MAXPATHLEN - 5);
        root.symlink(b"big", 0o755, &target).unwrap();
        assert!(same(&at(&root, "/big"), &root));
        assert!(same(&at(&root, "/big/a/"), &at(&root, "/a")));
        assert_eq!(err(&root, b"/big/a/b/file", true), Errno::ENAMETOOLONG);
    }
}
