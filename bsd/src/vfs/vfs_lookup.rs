//! Path lookup (XNU's `namei`/`lookup` in `vfs_lookup.c`): from a path to the vnode it names,
//! on behalf of a caller described by a [`VfsContext`].
//!
//! The walk starts at the caller's root directory for an absolute path and at its working
//! directory otherwise, and takes one component at a time, each only after the caller has
//! been found to have search permission on the directory it is looked up in. `..` never
//! climbs above the caller's root (so a `chroot` holds); from the root of a mounted file
//! system it first steps back to the directory the mount covers. A directory with a file
//! system mounted on it is passed through to that file system's root. A symbolic link is
//! expanded in place — its target followed by whatever path was still to walk — and walked
//! again: from the root when the target is absolute, from the link's own directory when it
//! is relative. Each expansion counts against [`MAXSYMLINKS`], so a cycle ends in `ELOOP`
//! rather than spinning; with at most [`MAXPATHLEN`] bytes walked per expansion, the walk
//! is bounded and nothing recurses.

use alloc::sync::Arc;
use alloc::vec::Vec;

use sys::Errno;

use super::vnode::{KauthCred, VEXEC, VType, VnodeRef};
use super::{MAXPATHLEN, MAXSYMLINKS, NAME_MAX};

/// The uid and gid of `nobody` (XNU's `-2`), which owns nothing: a caller with these is held
/// to every file's "other" bits.
pub const NOBODY: u32 = 0xffff_fffe;

/// Who is asking, and from where (XNU's `vfs_context`: the credential, and the process's —
/// or the thread's — working and root directories, `fd_cdir`/`uu_cdir` and `fd_rdir`).
#[derive(Clone)]
pub struct VfsContext {
    /// The credential permission checks use (effective ids).
    pub cred: KauthCred,
    /// Where relative paths start.
    pub cdir: VnodeRef,
    /// Where absolute paths start, and above which `..` does not go.
    pub rdir: VnodeRef,
    /// The caller's file-creation mask (`umask`): permission bits new files, directories,
    /// links and FIFOs do not get.
    pub cmask: u16,
}

impl VfsContext {
    /// A context for `cred` with root directory `rdir` and working directory `cdir`, and no
    /// creation mask.
    pub fn new(cred: KauthCred, rdir: VnodeRef, cdir: VnodeRef) -> VfsContext {
        VfsContext { cred, cdir, rdir, cmask: 0 }
    }
}

/// Looks `path` up for `ctx`: from its root directory if it starts with `/`, from its working
/// directory otherwise.
///
/// A symbolic link as the last component is followed only if `follow_last` is set (callers
/// like `lstat` and `readlink` want the link itself) or if the path ends in `/`, which asks
/// for a directory. Errors: an empty path or a missing component `ENOENT`; a path of
/// [`MAXPATHLEN`] bytes or more (so no room for its NUL), or a component longer than
/// [`NAME_MAX`], `ENAMETOOLONG`; a non-directory where a directory is needed — before
/// another component or a trailing `/` — `ENOTDIR`; a directory on the way the caller may
/// not search `EACCES` (XNU asks `vnode_authorize(KAUTH_VNODE_SEARCH)` of each); more than
/// [`MAXSYMLINKS`] links `ELOOP`; a NUL inside the path `EINVAL`.
pub fn namei(ctx: &VfsContext, path: &[u8], follow_last: bool) -> Result<VnodeRef, Errno> {
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
    let mut dir = if path.starts_with(b"/") { ctx.rdir.clone() } else { ctx.cdir.clone() };
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

        // A non-directory, or a revoked directory (deadfs's lookup), fails the lookup
        // itself, with ENOTDIR.
        if dir.vtype() == VType::VDIR && !dir.is_dead() {
            dir.authorize(&ctx.cred, VEXEC)?;
        }
        let vp = if name == b".." { lookup_dotdot(ctx, &dir)? } else { cross_mounts(dir.lookup(name)?) };

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
                dir = ctx.rdir.clone();
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

/// `..` from `dir`: `dir` itself at the caller's root; from the root of a mounted file
/// system, the parent of the directory the mount covers (through as many stacked mounts as
/// there are); otherwise `dir`'s parent.
fn lookup_dotdot(ctx: &VfsContext, dir: &VnodeRef) -> Result<VnodeRef, Errno> {
    let mut dp = dir.clone();
    loop {
        if Arc::ptr_eq(&dp, &ctx.rdir) {
            return Ok(dp);
        }
        // `vfs_mount` keeps mounts acyclic (a root mounts once, never on itself), so this
        // ends after at most as many steps as there are mounts.
        match dp.root_of() {
            Some(mp) => match mp.covered() {
                Some(covered) => dp = covered.clone(),
                // The root file system's root: `..` is itself.
                None => return Ok(dp),
            },
            None => return dp.lookup(b".."),
        }
    }
}

/// `vp`, or — if a file system is mounted on it — that file system's root (through stacked
/// mounts to the topmost; acyclic, as in [`lookup_dotdot`]).
fn cross_mounts(mut vp: VnodeRef) -> VnodeRef {
    while let Some(mp) = vp.mountedhere() {
        vp = mp.root().clone();
    }
    vp
}

/// The directory that holds the last component of `path`, and that component (XNU's
/// `namei` with `LOCKPARENT`, for the calls that make or remove a name): `a/b/c` gives the
/// directory `a/b` and `c`; trailing slashes are dropped (`a/b/` names `b` in `a`). The
/// component is empty only for `/` itself; it may be `.` or `..`, which the caller refuses
/// as its call requires. The directory is looked up with [`namei`]'s errors and must be one
/// (`ENOTDIR`); a component longer than `NAME_MAX` is `ENAMETOOLONG`.
pub fn lookup_parent(ctx: &VfsContext, path: &[u8]) -> Result<(VnodeRef, Vec<u8>), Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let trimmed = &path[..end];
    let (dir, name): (&[u8], &[u8]) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (if i == 0 { b"/" } else { &trimmed[..i] }, &trimmed[i + 1..]),
        None if trimmed.is_empty() => (b"/", b""),
        None => (b".", trimmed),
    };
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut dvp = namei(ctx, dir, true)?;
    if dvp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    // A directory something is mounted on stands for the mounted root.
    while let Some(mp) = dvp.mountedhere() {
        dvp = mp.root().clone();
    }
    Ok((dvp, name.to_vec()))
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

    /// Root's context with root directory `root` and working directory `cwd`.
    fn cx(root: &VnodeRef, cwd: &VnodeRef) -> VfsContext {
        VfsContext::new(KauthCred::ROOT, root.clone(), cwd.clone())
    }

    fn at(root: &VnodeRef, path: &str) -> VnodeRef {
        namei(&cx(root, root), path.as_bytes(), true).unwrap()
    }

    fn same(x: &VnodeRef, y: &VnodeRef) -> bool {
        Arc::ptr_eq(x, y)
    }

    fn err(root: &VnodeRef, path: &[u8], follow: bool) -> Errno {
        namei(&cx(root, root), path, follow).unwrap_err()
    }

    #[test]
    fn absolute_and_relative() {
        let root = tree();
        let b = at(&root, "/a/b");
        let file = at(&root, "/a/b/file");
        assert_eq!(file.read_to_vec().unwrap(), b"contents");
        assert!(same(&namei(&cx(&root, &b), b"file", true).unwrap(), &file));
        assert!(same(&namei(&cx(&root, &b), b"/a/b/file", true).unwrap(), &file));
        assert!(same(&namei(&cx(&root, &b), b".", true).unwrap(), &b));
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
        assert!(same(&namei(&cx(&a, &b), b"../../../..", true).unwrap(), &a));
        assert!(same(&namei(&cx(&a, &a), b"/../b", true).unwrap(), &b));
        // The link `/a/b/abs -> /a` is absolute, so it lands on the chroot root itself.
        assert_eq!(namei(&cx(&a, &b), b"abs", true).unwrap_err(), Errno::ENOENT);
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
        assert!(same(&namei(&cx(&root, &root), b"/a/b/rel", true).unwrap(), &file));
        assert!(same(&at(&root, "/self/self/a/b"), &b));
        // Not following the last one returns the link itself.
        let link = namei(&cx(&root, &root), b"/a/b/rel", false).unwrap();
        assert_eq!(link.vtype(), VType::VLNK);
        assert_eq!(link.readlink().unwrap(), b"file");
        // But a link in the middle is always followed.
        assert!(same(&namei(&cx(&root, &root), b"/a/b/up/b", false).unwrap(), &b));
    }

    #[test]
    fn trailing_slash_wants_a_directory() {
        let root = tree();
        assert_eq!(err(&root, b"/a/b/file/", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/top//", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/a/b/file/.", true), Errno::ENOTDIR);
        // A trailing slash follows a final link even without `follow_last`.
        let a = at(&root, "/a");
        assert!(same(&namei(&cx(&root, &root), b"/a/b/up/", false).unwrap(), &a));
        assert_eq!(err(&root, b"/a/b/rel/", false), Errno::ENOTDIR);
    }

    #[test]
    fn missing_and_not_a_directory() {
        let root = tree();
        assert_eq!(err(&root, b"", true), Errno::ENOENT);
        assert_eq!(err(&root, b"/nope", true), Errno::ENOENT);
        assert_eq!(err(&root, b"/a/nope/file", true), Errno::ENOENT);
        assert_eq!(err(&root, b"/a/b/dangling", true), Errno::ENOENT);
        assert_eq!(namei(&cx(&root, &root), b"/a/b/dangling", false).unwrap().vtype(), VType::VLNK);
        assert_eq!(err(&root, b"/top/x", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/a/b/rel/x", true), Errno::ENOTDIR);
        assert_eq!(err(&root, b"/a/\0b", true), Errno::EINVAL);
    }

    #[test]
    fn symlink_loops_end_in_eloop() {
        let root = tree();
        assert_eq!(err(&root, b"/loop", true), Errno::ELOOP);
        assert_eq!(err(&root, b"/loop/x", false), Errno::ELOOP);
        assert_eq!(namei(&cx(&root, &root), b"/loop", false).unwrap().vtype(), VType::VLNK);

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
        assert!(same(&namei(&cx(&root, &root), &longest, true).unwrap(), &at(&root, "/a")));
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

    /// A second ramfs `/a/mnt` is mounted on, holding `/inner/deep` and a link `back -> ..`.
    fn mounted() -> (VnodeRef, VnodeRef, crate::vfs::vfs_mount::MountRef) {
        let root = tree();
        let covered = at(&root, "/a").mkdir(b"mnt", 0o755).unwrap();
        covered.create(b"hidden", 0o644).unwrap();
        let other = ramfs_new_root();
        other.mkdir(b"inner", 0o755).unwrap().mkdir(b"deep", 0o755).unwrap();
        other.symlink(b"back", 0o755, b"..").unwrap();
        let args = crate::fs::ramfs::ramfs_mount_args(&other, 0, "test", "/a/mnt").unwrap();
        let mp = crate::vfs::vfs_mount::vfs_mount(&covered, other, args).unwrap();
        (root, covered, mp)
    }

    #[test]
    fn lookup_crosses_a_mount_both_ways() {
        let (root, covered, mp) = mounted();
        let other = mp.root().clone();
        let a = at(&root, "/a");
        // Into the mounted root, hiding what the covered directory holds.
        assert!(same(&at(&root, "/a/mnt"), &other));
        assert!(same(&at(&root, "/a/mnt/inner/deep/../.."), &other));
        assert_eq!(err(&root, b"/a/mnt/hidden", true), Errno::ENOENT);
        // `..` from the mounted root is the covered directory's parent.
        assert!(same(&at(&root, "/a/mnt/.."), &a));
        assert!(same(&at(&root, "/a/mnt/inner/../../b/file"), &at(&root, "/a/b/file")));
        assert!(same(&namei(&cx(&root, &other), b"..", true).unwrap(), &a));
        // A relative link in the mounted root climbs out the same way.
        assert!(same(&at(&root, "/a/mnt/back"), &a));
        crate::vfs::vfs_mount::vfs_unmount(&mp).unwrap();
        assert!(same(&at(&root, "/a/mnt"), &covered));
        assert_eq!(at(&root, "/a/mnt/hidden").vtype(), VType::VREG);
        // Unmounted, the old root is a root like any other: `..` stays.
        assert!(same(&namei(&cx(&root, &other), b"..", true).unwrap(), &other));
    }

    #[test]
    fn chroot_holds_across_mounts() {
        let (root, _covered, mp) = mounted();
        let other = mp.root().clone();
        // Rooted in the mounted file system: `..` at its root stays, even though it is a
        // mounted root with a covered directory below it.
        let deep = namei(&cx(&other, &other), b"/inner/deep", true).unwrap();
        let jailed = cx(&other, &deep);
        assert!(same(&namei(&jailed, b"../../../../..", true).unwrap(), &other));
        assert!(same(&namei(&jailed, b"/..", true).unwrap(), &other));
        assert!(same(&namei(&jailed, b"/back", true).unwrap(), &other));
        // Rooted at /a, a walk out through the mount comes back to /a and no further.
        let a = at(&root, "/a");
        assert!(same(&namei(&cx(&a, &deep), b"../../../../..", true).unwrap(), &a));
        assert!(same(&namei(&cx(&a, &a), b"/mnt/../mnt/inner", true).unwrap(), &at(&root, "/a/mnt/inner")));
        crate::vfs::vfs_mount::vfs_unmount(&mp).unwrap();
    }

    fn user(uid: u32, gid: u32) -> KauthCred {
        KauthCred::new(uid, gid)
    }

    #[test]
    fn search_permission_on_every_directory() {
        let root = tree();
        let locked = root.mkdir(b"locked", 0o700).unwrap();
        locked.set_owner(501, 20);
        locked.mkdir(b"sub", 0o755).unwrap().create(b"f", 0o644).unwrap();
        let as_user = |uid, gid, path: &[u8]| {
            namei(&VfsContext::new(user(uid, gid), root.clone(), root.clone()), path, true).map(|v| v.vtype())
        };
        assert_eq!(as_user(501, 20, b"/locked/sub/f"), Ok(VType::VREG), "the owner may search");
        assert_eq!(as_user(502, 20, b"/locked/sub/f"), Err(Errno::EACCES), "the group may not");
        assert_eq!(as_user(502, 30, b"/locked/sub/f"), Err(Errno::EACCES), "nor may others");
        assert_eq!(as_user(502, 30, b"/locked"), Ok(VType::VDIR), "naming it needs no search of it");
        assert_eq!(as_user(502, 30, b"/locked/."), Err(Errno::EACCES), "`.` is looked up in it");
        assert_eq!(as_user(0, 0, b"/locked/sub/f"), Ok(VType::VREG), "root may search anything");
        locked.chmod(0o010);
        assert_eq!(as_user(501, 20, b"/locked/sub"), Err(Errno::EACCES), "the owner's own bits count");
        assert_eq!(as_user(502, 20, b"/locked/sub"), Ok(VType::VDIR), "the group's do for the group");
        assert_eq!(as_user(502, 30, b"/locked/sub"), Err(Errno::EACCES));
        // A link through the locked directory fails the same way; the error is EACCES even
        // when the name behind it does not exist.
        root.symlink(b"via", 0o755, b"locked/sub").unwrap();
        assert_eq!(as_user(502, 30, b"/via"), Err(Errno::EACCES));
        assert_eq!(as_user(502, 30, b"/locked/nothing"), Err(Errno::EACCES));
        // The bridge for callers without a credential: nobody is held to the other bits.
        assert_eq!(
            namei(
                &VfsContext::new(KauthCred::new(NOBODY, NOBODY), root.clone(), root.clone()),
                b"/locked/sub",
                true
            )
            .err(),
            Some(Errno::EACCES)
        );
        assert!(
            namei(&VfsContext::new(KauthCred::new(0, 0), root.clone(), root.clone()), b"/locked/sub", true)
                .is_ok()
        );
    }

    #[test]
    fn authorize_follows_bsd_vaccess() {
        use crate::vfs::vnode::{VREAD, VWRITE};
        let root = tree();
        let f = root.create(b"f", 0o640).unwrap();
        f.set_owner(501, 20);
        assert_eq!(f.authorize(&user(501, 99), VREAD | VWRITE), Ok(()));
        assert_eq!(f.authorize(&user(502, 20), VREAD), Ok(()));
        assert_eq!(f.authorize(&user(502, 20), VWRITE), Err(Errno::EACCES));
        assert_eq!(f.authorize(&user(502, 21), VREAD), Err(Errno::EACCES));
        assert_eq!(f.authorize(&user(0, 0), VREAD | VWRITE), Ok(()), "root reads and writes anything");
        assert_eq!(f.authorize(&user(0, 0), VEXEC), Err(Errno::EACCES), "but runs only what has an x bit");
        f.chmod(0o601);
        assert_eq!(f.authorize(&user(0, 0), VEXEC), Ok(()), "any x bit will do for root");
        assert_eq!(f.authorize(&user(501, 20), VEXEC), Err(Errno::EACCES), "not for the owner");
        let d = root.mkdir(b"d", 0o000).unwrap();
        assert_eq!(d.authorize(&user(0, 0), VEXEC), Ok(()), "root searches any directory");
        // New nodes take their directory's group, as on BSD.
        d.set_owner(7, 42);
        assert_eq!(d.create(b"g", 0o644).unwrap().gid(), 42);
    }

    #[test]
    fn thirty_three_expansions_are_one_too_many() {
        // A two-link cycle: each step through it is one expansion; the 33rd is refused.
        let root = tree();
        root.symlink(b"ping", 0o755, b"pong").unwrap();
        root.symlink(b"pong", 0o755, b"ping").unwrap();
        assert_eq!(err(&root, b"/ping", true), Errno::ELOOP);
        // 32 expansions through a chain of relative links in nested directories succeed.
        let mut d = root.mkdir(b"n", 0o755).unwrap();
        d.create(b"end", 0o644).unwrap();
        d.symlink(b"s", 0o755, b"end").unwrap();
        for _ in 1..MAXSYMLINKS {
            let up = d.mkdir(b"x", 0o755).unwrap();
            up.symlink(b"s", 0o755, b"../s").unwrap();
            d = up;
        }
        let mut path = b"/n".to_vec();
        for _ in 1..MAXSYMLINKS {
            path.extend_from_slice(b"/x");
        }
        path.extend_from_slice(b"/s");
        assert_eq!(namei(&cx(&root, &root), &path, true).unwrap().vtype(), VType::VREG, "32 links");
        let up = d.mkdir(b"x", 0o755).unwrap();
        up.symlink(b"s", 0o755, b"../s").unwrap();
        path.truncate(path.len() - 2);
        path.extend_from_slice(b"/x/s");
        assert_eq!(namei(&cx(&root, &root), &path, true).unwrap_err(), Errno::ELOOP, "33 links");
    }
}
