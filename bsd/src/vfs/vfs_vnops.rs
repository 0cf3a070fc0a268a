//! Open files backed by vnodes (XNU's `vfs_vnops.c`): `vn_open` turns a path and open
//! flags into an open file description whose reads and writes go to the vnode at the
//! description's offset.

use alloc::sync::Arc;

use sys::Errno;
use sys::fcntl::{O_ACCMODE, O_APPEND, O_CREAT, O_EXCL, O_TRUNC};

use crate::kern::kern_descrip::{FREAD, FWRITE, FileGlob, FileOps};
use crate::vfs::vfs_lookup::namei;
use crate::vfs::vnode::{VType, VnodeRef};
use crate::vfs::{ALLPERMS, NAME_MAX};

/// A vnode as an open file.
pub struct VnodeFile {
    vp: VnodeRef,
    append: bool,
}

impl FileOps for VnodeFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.vp.read_at(offset, buf)
    }

    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let at = if self.append { self.vp.size() } else { offset };
        self.vp.write_at(at, buf)
    }

    fn seekable(&self) -> bool {
        true
    }
}

/// Open `path` (relative to `cwd`) with open flags `oflag` and, for a new file, `mode`.
/// `root_user`: the caller's effective uid is 0 (files have no owners yet, so everyone else
/// is held to the "other" permission bits).
pub fn vn_open(
    root: &VnodeRef,
    cwd: &VnodeRef,
    path: &[u8],
    oflag: u32,
    mode: u16,
    root_user: bool,
) -> Result<Arc<FileGlob>, Errno> {
    let access = oflag & O_ACCMODE;
    if access == O_ACCMODE {
        return Err(Errno::EINVAL);
    }
    // Kernel file flags are the access mode plus one (FFLAGS).
    let fflag = (access + 1) & (FREAD | FWRITE);
    let vp = match namei(root, cwd, path, true) {
        Ok(_) if oflag & O_CREAT != 0 && oflag & O_EXCL != 0 => return Err(Errno::EEXIST),
        Ok(vp) => vp,
        Err(Errno::ENOENT) if oflag & O_CREAT != 0 => {
            let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(i) => (&path[..i.max(1)], &path[i + 1..]),
                None => (&b"."[..], path),
            };
            if name.is_empty() || name.len() > NAME_MAX {
                return Err(Errno::ENOENT);
            }
            let dvp = namei(root, cwd, dir, true)?;
            dvp.create(name, mode & ALLPERMS)?
        }
        Err(e) => return Err(e),
    };
    if vp.vtype() == VType::VDIR && fflag & FWRITE != 0 {
        return Err(Errno::EISDIR);
    }
    const S_IROTH: u16 = 0o004;
    const S_IWOTH: u16 = 0o002;
    if !root_user
        && ((fflag & FREAD != 0 && vp.mode() & S_IROTH == 0)
            || (fflag & FWRITE != 0 && vp.mode() & S_IWOTH == 0))
    {
        return Err(Errno::EACCES);
    }
    if oflag & O_TRUNC != 0 && vp.size() != 0 {
        // Shrinking files arrives with the VFS calls (truncate).
        return Err(Errno::ENOTSUP);
    }
    Ok(FileGlob::new(fflag, Arc::new(VnodeFile { vp, append: oflag & O_APPEND != 0 })))
}
