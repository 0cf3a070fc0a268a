//! ramfs node types and their vnode operations: [`RamDir`], [`RamFile`], [`RamSymlink`].

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use osfmk::kern::lock_order;
use osfmk::kern::locks::LckMtx;
use osfmk::vm::vm_object::{ObjectRef, VmObject};
use osfmk::vm::vm_page::PoolRef;
use sys::Errno;

use crate::vfs::vfs_mount::{VfsOps, VfsStat, vfs_getnewfsid};
use crate::vfs::vfs_vnops::VN_IO_CHUNK;
use crate::vfs::vnode::{DirEntry, VType, Vnode, VnodeOps, VnodeRef};

/// What one node costs the kernel heap besides its name and data, for the quota: the vnode
/// (its advisory-lock list and wait queue too), its operations object, and a directory slot
/// (measured on the target: 264 bytes of vnode, 136 of file or directory operations, about
/// 50 of slot; rounded up for the allocator's own overhead).
pub const RAMFS_NODE_COST: usize = 640;

/// Most nodes (files, directories, links: vnodes) a ramfs may gain after it is loaded; one
/// more fails with ENOSPC. Each node lives on the kernel heap for as long as its name does, so
/// without a bound any user could fill the heap with empty files in `/tmp`.
pub const RAMFS_NODE_GROWTH_MAX: usize = 2048;

/// How much one ramfs may hold, and how much it holds: file data (VM pages from `pool`,
/// charged by file length), and the metadata of every node and name ([`RAMFS_NODE_COST`]
/// plus the name's bytes, on the kernel heap). A bound keeps one program writing a huge
/// file, or making files without end, from starving every other kernel allocation or the
/// page pool: it gets ENOSPC instead. Nodes are also counted, with their own limit.
pub struct RamQuota {
    /// The file system's number (`VnodeOps::fsid`), drawn when it is made.
    fsid: u32,
    /// One rename at a time in this file system (see `RamDir::rename`).
    rename_lock: LckMtx<()>,
    used: AtomicUsize,
    limit: AtomicUsize,
    nodes: AtomicUsize,
    node_limit: AtomicUsize,
    /// The slot of a ramfs `mount(2)` made, held for as long as any of its nodes are.
    _share: Option<super::ramfs_vfsops::RamfsShare>,
    /// Where its files' pages come from.
    pool: PoolRef,
}

impl RamQuota {
    /// No limit (yet).
    pub fn unlimited() -> Arc<RamQuota> {
        Self::new(None)
    }

    /// No limit yet, for a ramfs `mount(2)` makes: it holds `share` until it goes.
    pub(super) fn with_share(share: super::ramfs_vfsops::RamfsShare) -> Arc<RamQuota> {
        Self::new(Some(share))
    }

    /// No limit yet, with file pages from `pool` instead of the kernel's (for tests that
    /// count them).
    #[cfg(test)]
    pub fn with_pool(pool: PoolRef) -> Arc<RamQuota> {
        Self::new_in(None, pool)
    }

    fn new(share: Option<super::ramfs_vfsops::RamfsShare>) -> Arc<RamQuota> {
        Self::new_in(share, crate::kern::ubc_subr::ubc_pool())
    }

    fn new_in(share: Option<super::ramfs_vfsops::RamfsShare>, pool: PoolRef) -> Arc<RamQuota> {
        Arc::new(RamQuota {
            fsid: vfs_getnewfsid(),
            rename_lock: LckMtx::new(&lock_order::RAMFS_RENAME, ()),
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(usize::MAX),
            nodes: AtomicUsize::new(0),
            node_limit: AtomicUsize::new(usize::MAX),
            _share: share,
            pool,
        })
    }

    /// From now on, allow `extra` bytes beyond what is held now.
    pub fn cap_growth(&self, extra: usize) {
        self.limit.store(self.used.load(Ordering::Acquire).saturating_add(extra), Ordering::Release);
    }

    /// From now on, allow `extra` nodes beyond those that exist now.
    pub fn cap_node_growth(&self, extra: usize) {
        self.node_limit.store(self.nodes.load(Ordering::Acquire).saturating_add(extra), Ordering::Release);
    }

    /// Bytes held.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Nodes that exist.
    pub fn nodes(&self) -> usize {
        self.nodes.load(Ordering::Acquire)
    }

    /// The file system's number, which all its vnodes report.
    pub fn fsid(&self) -> u32 {
        self.fsid
    }

    fn charge(&self, n: usize) -> Result<(), Errno> {
        let limit = self.limit.load(Ordering::Acquire);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_add(n).filter(|&t| t <= limit))
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    /// Charges `n` bytes that are already held, past the limit if need be.
    fn charge_anyway(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    fn credit(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Take one node and its [`RAMFS_NODE_COST`]; ENOSPC if either limit is reached.
    fn charge_node(self: &Arc<Self>) -> Result<NodeCharge, Errno> {
        let limit = self.node_limit.load(Ordering::Acquire);
        self.nodes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1).filter(|&t| t <= limit))
            .map_err(|_| Errno::ENOSPC)?;
        if let Err(e) = self.charge(RAMFS_NODE_COST) {
            self.nodes.fetch_sub(1, Ordering::AcqRel);
            return Err(e);
        }
        Ok(NodeCharge { quota: self.clone() })
    }
}

/// A ramfs's size is its quota: its blocks are the pages its bytes may take, its file nodes
/// the nodes it may hold, and what is free is what the quota has left (XNU's `VFS_GETATTR`).
impl VfsOps for RamQuota {
    fn vfs_getattr(&self) -> VfsStat {
        let page = RAMFS_PAGE_SIZE as u64;
        let (limit, used) = (self.limit.load(Ordering::Acquire) as u64, self.used() as u64);
        let (node_limit, nodes) = (self.node_limit.load(Ordering::Acquire) as u64, self.nodes() as u64);
        let free = limit.saturating_sub(used) / page;
        VfsStat {
            f_bsize: RAMFS_PAGE_SIZE as u32,
            f_iosize: VN_IO_CHUNK as u32,
            f_blocks: limit / page,
            f_bfree: free,
            f_bavail: free,
            f_files: node_limit,
            f_ffree: node_limit.saturating_sub(nodes),
        }
    }
}

/// One node's share of its file system's quota, given back when the node goes.
pub(super) struct NodeCharge {
    quota: Arc<RamQuota>,
}

impl Drop for NodeCharge {
    fn drop(&mut self) {
        self.quota.credit(RAMFS_NODE_COST);
        self.quota.nodes.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A directory's entries, and whether it has been removed (then nothing may be made in it).
struct DirState {
    entries: BTreeMap<Vec<u8>, VnodeRef>,
    removed: bool,
}

/// A directory: its entries by name. A `BTreeMap` so `readdir` lists them in a stable,
/// sorted order.
pub(super) struct RamDir {
    entries: LckMtx<DirState>,
    /// The file system's quota, handed to every node made here; names are charged to it.
    quota: Arc<RamQuota>,
    _charge: NodeCharge,
}

impl RamDir {
    /// A directory's operations, charged as one node (ENOSPC past the quota).
    pub(super) fn new(quota: Arc<RamQuota>) -> Result<RamDir, Errno> {
        let charge = quota.charge_node()?;
        let state = DirState { entries: BTreeMap::new(), removed: false };
        Ok(RamDir { entries: LckMtx::new(&lock_order::RAMFS_DIR, state), quota, _charge: charge })
    }

    /// Enters the vnode `make` builds under `name`, unless the name is taken (`EEXIST`) or
    /// the quota is spent (`ENOSPC`, from the name's bytes or from `make`).
    fn enter(&self, name: &[u8], make: impl FnOnce() -> Result<VnodeRef, Errno>) -> Result<VnodeRef, Errno> {
        let mut state = self.entries.lock();
        if state.removed {
            return Err(Errno::ENOENT);
        }
        match state.entries.entry(name.to_vec()) {
            Entry::Occupied(_) => Err(Errno::EEXIST),
            Entry::Vacant(slot) => {
                self.quota.charge(name.len())?;
                match make() {
                    Ok(vp) => Ok(slot.insert(vp).clone()),
                    Err(e) => {
                        self.quota.credit(name.len());
                        Err(e)
                    }
                }
            }
        }
    }
}

impl Drop for RamDir {
    fn drop(&mut self) {
        // No lock: nobody else can reach a directory being dropped (and one whose vnode
        // could not be made is dropped inside its parent's `enter`, under the parent's lock).
        let names: usize = self.entries.get_mut().entries.keys().map(Vec::len).sum();
        self.quota.credit(names);
    }
}

impl VnodeOps for RamDir {
    fn lookup(&self, name: &[u8]) -> Result<VnodeRef, Errno> {
        self.entries.lock().entries.get(name).cloned().ok_or(Errno::ENOENT)
    }

    fn size(&self) -> u64 {
        self.entries.lock().entries.len() as u64
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Ok(self
            .entries
            .lock()
            .entries
            .iter()
            .map(|(name, vp)| DirEntry { name: name.clone(), vtype: vp.vtype() })
            .collect())
    }

    fn mkdir(&self, dvp: &VnodeRef, name: &[u8], perm: u16) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            let ops = RamDir::new(self.quota.clone())?;
            Vnode::new(VType::VDIR, perm, Some(dvp), Box::new(ops))
        })
    }

    fn create(&self, dvp: &VnodeRef, name: &[u8], perm: u16) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            let ops = RamFile::new(self.quota.clone())?;
            Vnode::new(VType::VREG, perm, Some(dvp), Box::new(ops))
        })
    }

    fn mknod(
        &self,
        dvp: &VnodeRef,
        name: &[u8],
        vtype: VType,
        perm: u16,
        rdev: u32,
    ) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            let ops = RamSpecial { rdev, fsid: self.quota.fsid, _charge: self.quota.charge_node()? };
            Vnode::new(vtype, perm, Some(dvp), Box::new(ops))
        })
    }

    fn symlink(&self, dvp: &VnodeRef, name: &[u8], perm: u16, target: &[u8]) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            let ops = RamSymlink::new(&self.quota, target)?;
            Vnode::new(VType::VLNK, perm, Some(dvp), Box::new(ops))
        })
    }

    fn link(&self, name: &[u8], vp: &VnodeRef) -> Result<(), Errno> {
        // A second name for an existing node costs only the name.
        self.enter(name, || Ok(vp.clone())).map(drop)
    }

    fn remove(&self, name: &[u8], dir: bool) -> Result<VnodeRef, Errno> {
        let vp = self.lookup(name)?;
        let is_dir = vp.vtype() == VType::VDIR;
        match (is_dir, dir) {
            (true, false) => return Err(Errno::EPERM),
            (false, true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        // An empty directory is marked removed under its own lock first, so nothing can be
        // made in it between the check and its leaving this directory (the two locks are
        // never held together).
        let victim = if is_dir { Some(ram_dir(&vp)?.mark_removed()?) } else { None };
        let mut state = self.entries.lock();
        match state.entries.get(name) {
            Some(now) if Arc::ptr_eq(now, &vp) => {
                state.entries.remove(name);
                self.quota.credit(name.len());
                Ok(vp)
            }
            // Renamed or replaced meanwhile: this call removes nothing.
            _ => {
                drop(state);
                if let Some(d) = victim {
                    d.unmark_removed();
                }
                Err(Errno::ENOENT)
            }
        }
    }

    fn rename(&self, dvp: &VnodeRef, from: &[u8], tdvp: &VnodeRef, to: &[u8]) -> Result<(), Errno> {
        let target = ram_dir(tdvp).map_err(|_| Errno::EXDEV)?;
        if !Arc::ptr_eq(&self.quota, &target.quota) {
            return Err(Errno::EXDEV);
        }
        let _one_rename = self.quota.rename_lock.lock();
        let vp = self.lookup(from)?;
        let is_dir = vp.vtype() == VType::VDIR;
        if is_dir {
            // Not into itself or below it: walk up from the target directory (ancestry only
            // changes under the rename lock, which is held).
            let mut at = Some(tdvp.clone());
            while let Some(d) = at {
                if Arc::ptr_eq(&d, &vp) {
                    return Err(Errno::EINVAL);
                }
                at = d.parent();
            }
        }
        let old = target.lookup(to).ok();
        let mut victim = None;
        if let Some(old) = &old {
            if Arc::ptr_eq(old, &vp) {
                return Ok(()); // the same file under both names: nothing to do (POSIX)
            }
            match (is_dir, old.vtype() == VType::VDIR) {
                (false, true) => return Err(Errno::EISDIR),
                (true, false) => return Err(Errno::ENOTDIR),
                (true, true) => victim = Some(ram_dir(old)?.mark_removed()?),
                (false, false) => {}
            }
        }
        // A new name is charged by its length before anything changes (a replaced one was
        // charged already); the source name's bytes come back at the end.
        let new_name = if old.is_none() { to.len() } else { 0 };
        if let Err(e) = self.quota.charge(new_name) {
            if let Some(d) = victim {
                d.unmark_removed();
            }
            return Err(e);
        }
        // Take the name out of the source, then put it in the target, replacing what was
        // there in one step (the target name never goes missing).
        let undo = |victim: Option<&RamDir>| {
            self.quota.credit(new_name);
            if let Some(d) = victim {
                d.unmark_removed();
            }
        };
        {
            let mut state = self.entries.lock();
            if !state.entries.get(from).is_some_and(|now| Arc::ptr_eq(now, &vp)) {
                drop(state);
                undo(victim);
                return Err(Errno::ENOENT);
            }
            state.entries.remove(from);
        }
        let mut tstate = target.entries.lock();
        if tstate.removed {
            drop(tstate);
            // The target directory went away meanwhile: put the name back.
            self.entries.lock().entries.insert(from.to_vec(), vp);
            undo(victim);
            return Err(Errno::ENOENT);
        }
        let replaced = tstate.entries.insert(to.to_vec(), vp.clone());
        drop(tstate);
        self.quota.credit(from.len());
        // A create or remove of `to` since it was looked up: charge what the table holds.
        match (&replaced, new_name) {
            (Some(_), n) if n > 0 => self.quota.credit(n),
            (None, 0) => self.quota.charge_anyway(to.len()),
            _ => {}
        }
        // The replaced vnode (if any) goes when its last holder lets go.
        drop(replaced);
        if is_dir && !Arc::ptr_eq(dvp, tdvp) {
            vp.set_parent(tdvp);
        }
        Ok(())
    }

    fn fsid(&self) -> u32 {
        self.quota.fsid
    }

    fn local_locks(&self) -> bool {
        true
    }

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

/// The ramfs directory behind `vp`: `ENOTDIR` for anything else (another file system's
/// directory included).
fn ram_dir(vp: &VnodeRef) -> Result<&RamDir, Errno> {
    vp.ops().as_any().and_then(|a| a.downcast_ref::<RamDir>()).ok_or(Errno::ENOTDIR)
}

/// The quota of the ramfs directory `vp` belongs to: `ENOTDIR` for anything else.
pub(super) fn quota_of(vp: &VnodeRef) -> Result<Arc<RamQuota>, Errno> {
    ram_dir(vp).map(|d| d.quota.clone())
}

impl RamDir {
    /// Marks this empty directory removed, so nothing more may be made in it; `ENOTEMPTY`
    /// if it has entries.
    fn mark_removed(&self) -> Result<&RamDir, Errno> {
        let mut state = self.entries.lock();
        if !state.entries.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        state.removed = true;
        Ok(self)
    }

    /// Undoes [`RamDir::mark_removed`] when the removal did not happen.
    fn unmark_removed(&self) {
        self.entries.lock().removed = false;
    }
}

/// The unit a file's bytes are stored in: a file's bytes are VM pages, and a page that holds
/// only zeros — a hole left by a write past the end, or by growing the file with `truncate`
/// — is not stored at all.
pub const RAMFS_PAGE_SIZE: usize = osfmk::vm::vm_page::PAGE_SIZE as usize;

/// The longest file a ramfs holds (`off_t`'s largest value, as XNU's file systems allow):
/// a write or `truncate` past it is `EFBIG`.
pub const RAMFS_MAXFILESIZE: u64 = i64::MAX as u64;

/// The offset space of a file's VM object: every page a file of [`RAMFS_MAXFILESIZE`] bytes
/// can have, so a mapping may reach past the file's current end (a fault there is SIGBUS
/// until the file grows).
const RAMFS_OBJECT_SIZE: u64 = RAMFS_MAXFILESIZE + 1;

/// A regular file: its length, charged to the quota whole (holes too, so what a file may
/// grow to does not depend on what it writes), and its bytes in the pages of a VM object
/// (the unified buffer cache: `read`, `write` and every `mmap` of the file share them). The
/// file system is the object's pager: it tells the object where the data ends, and every
/// byte past the end reads as zero, so a file that shrinks and grows again shows zeros,
/// never its old bytes.
pub(super) struct RamFile {
    /// The file's length. Held across every change of length or data, so each is one step,
    /// and while a mapper takes its reference to the object (which `set_data_size` relies
    /// on to know whether pages past a cut may be freed).
    size: LckMtx<u64>,
    object: ObjectRef,
    /// The length's charge to the quota, which the object keeps too: a mapping that
    /// outlives the file holds its pages, and they stay counted until it goes.
    data: Arc<DataCharge>,
    quota: Arc<RamQuota>,
    _charge: NodeCharge,
}

/// A file's data's share of its file system's quota: its length, given back when the last
/// holder of the file's pages lets go (the file, or a mapping still using them).
struct DataCharge {
    quota: Arc<RamQuota>,
    bytes: AtomicUsize,
}

impl Drop for DataCharge {
    fn drop(&mut self) {
        self.quota.credit(*self.bytes.get_mut());
    }
}

impl RamFile {
    /// An empty file's operations, charged as one node (ENOSPC past the quota).
    pub(super) fn new(quota: Arc<RamQuota>) -> Result<RamFile, Errno> {
        let charge = quota.charge_node()?;
        let data = Arc::new(DataCharge { quota: quota.clone(), bytes: AtomicUsize::new(0) });
        let pager: Arc<dyn core::any::Any + Send + Sync> = data.clone();
        let object = VmObject::allocate_external(RAMFS_OBJECT_SIZE, Some(pager));
        let size = LckMtx::new(&lock_order::RAMFS_FILE, 0);
        Ok(RamFile { size, object, data, quota, _charge: charge })
    }

    /// Makes the file `size` bytes long, charging growth to the quota (ENOSPC past it) and
    /// giving back what a cut frees; `cur` is the length, under its lock.
    fn resize(&self, cur: &mut u64, size: u64) -> Result<(), Errno> {
        if size > RAMFS_MAXFILESIZE {
            return Err(Errno::EFBIG);
        }
        let delta = |by: u64| usize::try_from(by).map_err(|_| Errno::ENOSPC);
        if size > *cur {
            let more = delta(size - *cur)?;
            self.quota.charge(more)?;
            self.data.bytes.fetch_add(more, Ordering::AcqRel);
        } else if size < *cur {
            let less = delta(*cur - size)?;
            self.data.bytes.fetch_sub(less, Ordering::AcqRel);
            self.quota.credit(less);
        } else {
            return Ok(());
        }
        VmObject::set_data_size(&self.object, size);
        *cur = size;
        Ok(())
    }
}

impl VnodeOps for RamFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let size = self.size.lock();
        let n = size.saturating_sub(off).min(buf.len() as u64) as usize;
        self.object.read_bytes(off, &mut buf[..n]);
        Ok(n)
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let end =
            off.checked_add(buf.len() as u64).filter(|&e| e <= RAMFS_MAXFILESIZE).ok_or(Errno::EFBIG)?;
        let mut size = self.size.lock();
        let old = *size;
        if end > old {
            // Growth is charged before any page is taken: a write far past the end, or
            // beyond the quota, fails whole.
            self.resize(&mut size, end)?;
        }
        if self.object.write_bytes(&self.quota.pool, off, buf).is_err() {
            // No page for it: nothing was stored, and the file keeps its length.
            let _ = self.resize(&mut size, old);
            return Err(Errno::ENOSPC);
        }
        Ok(buf.len())
    }

    fn size(&self) -> u64 {
        *self.size.lock()
    }

    fn setsize(&self, size: u64) -> Result<(), Errno> {
        self.resize(&mut self.size.lock(), size)
    }

    fn vm_object(&self) -> Option<ObjectRef> {
        let _size = self.size.lock();
        Some(self.object.clone())
    }

    fn fsid(&self) -> u32 {
        self.quota.fsid
    }

    fn local_locks(&self) -> bool {
        true
    }

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

/// A symbolic link: its target, fixed when it is made.
pub(super) struct RamSymlink {
    target: Vec<u8>,
    quota: Arc<RamQuota>,
    _charge: NodeCharge,
}

impl RamSymlink {
    /// A link's operations, charged as one node plus its target's bytes.
    fn new(quota: &Arc<RamQuota>, target: &[u8]) -> Result<RamSymlink, Errno> {
        let charge = quota.charge_node()?;
        quota.charge(target.len())?;
        Ok(RamSymlink { target: target.to_vec(), quota: quota.clone(), _charge: charge })
    }
}

impl Drop for RamSymlink {
    fn drop(&mut self) {
        self.quota.credit(self.target.len());
    }
}

/// A FIFO or device node: a name and a device number, no data of its own (a FIFO's bytes
/// live in its pipe while it is open; a device's in its driver).
pub(super) struct RamSpecial {
    rdev: u32,
    fsid: u32,
    _charge: NodeCharge,
}

impl VnodeOps for RamSpecial {
    fn size(&self) -> u64 {
        0
    }

    fn fsid(&self) -> u32 {
        self.fsid
    }

    fn rdev(&self) -> u32 {
        self.rdev
    }
}

impl VnodeOps for RamSymlink {
    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        Ok(self.target.clone())
    }

    fn size(&self) -> u64 {
        self.target.len() as u64
    }

    fn fsid(&self) -> u32 {
        self.quota.fsid
    }

    fn local_locks(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;

    use super::super::ramfs_new_root;
    use super::*;
    use crate::vfs::{S_IFDIR, S_IFLNK, S_IFREG};
    use sys::stat::S_IFIFO;

    #[test]
    fn mkdir_create_symlink_and_lookup() {
        let root = ramfs_new_root();
        let d = root.mkdir(b"bin", 0o700).unwrap();
        let f = d.create(b"sh", 0o555).unwrap();
        let l = root.symlink(b"sh", 0o777, b"/bin/sh").unwrap();
        assert_eq!(d.mode(), S_IFDIR | 0o700);
        assert_eq!(f.mode(), S_IFREG | 0o555);
        assert_eq!(l.mode(), S_IFLNK | 0o777);
        assert!(Arc::ptr_eq(&root.lookup(b"bin").unwrap(), &d));
        assert!(Arc::ptr_eq(&d.lookup(b"sh").unwrap(), &f));
        assert_eq!(l.readlink().unwrap(), b"/bin/sh");
        assert_eq!(l.size(), 7);
        assert_eq!(root.lookup(b"nope").unwrap_err(), Errno::ENOENT);
    }

    #[test]
    fn special_files_carry_type_and_device() {
        let root = ramfs_new_root();
        let f = root.mknod(b"fifo", VType::VFIFO, 0o640, 0).unwrap();
        assert_eq!((f.vtype(), f.mode(), f.size(), f.rdev()), (VType::VFIFO, S_IFIFO | 0o640, 0, 0));
        assert_eq!(f.fsid(), root.fsid(), "a special file belongs to its file system (st_dev)");
        let c = root.mknod(b"null", VType::VCHR, 0o666, (3 << 24) | 2).unwrap();
        assert_eq!((c.vtype(), c.rdev()), (VType::VCHR, (3 << 24) | 2));
        assert_eq!(root.mknod(b"fifo", VType::VFIFO, 0o600, 0).unwrap_err(), Errno::EEXIST);
        assert_eq!(root.mknod(b"reg", VType::VREG, 0o600, 0).unwrap_err(), Errno::EINVAL);
        assert_eq!(f.mknod(b"x", VType::VFIFO, 0o600, 0).unwrap_err(), Errno::ENOTDIR);
        assert!(Arc::ptr_eq(&root.lookup(b"fifo").unwrap(), &f));
    }

    #[test]
    fn names_are_unique_per_directory() {
        let root = ramfs_new_root();
        root.mkdir(b"x", 0o755).unwrap();
        assert_eq!(root.create(b"x", 0o644).unwrap_err(), Errno::EEXIST);
        assert_eq!(root.mkdir(b"x", 0o755).unwrap_err(), Errno::EEXIST);
        assert_eq!(root.symlink(b"x", 0o755, b"y").unwrap_err(), Errno::EEXIST);
    }

    #[test]
    fn readdir_is_sorted_and_typed() {
        let root = ramfs_new_root();
        root.create(b"b", 0o644).unwrap();
        root.mkdir(b"a", 0o755).unwrap();
        root.symlink(b"c", 0o755, b"a").unwrap();
        let names: Vec<(Vec<u8>, VType)> =
            root.readdir().unwrap().into_iter().map(|e| (e.name, e.vtype)).collect();
        assert_eq!(
            names,
            [(b"a".to_vec(), VType::VDIR), (b"b".to_vec(), VType::VREG), (b"c".to_vec(), VType::VLNK)]
        );
        assert_eq!(root.size(), 3);
    }

    #[test]
    fn file_read_write() {
        let root = ramfs_new_root();
        let f = root.create(b"f", 0o644).unwrap();
        assert_eq!(f.size(), 0);
        assert_eq!(f.write_at(0, b"hello").unwrap(), 5);
        assert_eq!(f.write_at(8, b"!").unwrap(), 1);
        assert_eq!(f.size(), 9);
        let mut buf = [0xffu8; 16];
        assert_eq!(f.read_at(0, &mut buf).unwrap(), 9);
        assert_eq!(&buf[..9], b"hello\0\0\0!");
        assert_eq!(f.read_at(3, &mut buf[..2]).unwrap(), 2);
        assert_eq!(&buf[..2], b"lo");
        assert_eq!(f.read_at(9, &mut buf).unwrap(), 0);
        assert_eq!(f.read_at(u64::MAX, &mut buf).unwrap(), 0);
        f.write_at(1, b"EL").unwrap();
        assert_eq!(f.read_to_vec().unwrap(), b"hELlo\0\0\0!");
    }

    #[test]
    fn absurd_writes_fail_cleanly() {
        let quota = RamQuota::unlimited();
        let root = super::super::ramfs_new_root_with(quota.clone()).unwrap();
        let f = root.create(b"f", 0o644).unwrap();
        assert_eq!(f.write_at(u64::MAX, b"x").unwrap_err(), Errno::EFBIG);
        assert_eq!(f.write_at(RAMFS_MAXFILESIZE, b"x").unwrap_err(), Errno::EFBIG, "past off_t");
        // Beyond the quota a write fails whole, whatever the heap could give.
        quota.cap_growth(1 << 20);
        assert_eq!(f.write_at(1 << 62, b"x").unwrap_err(), Errno::ENOSPC);
        assert_eq!(f.size(), 0);
        assert_eq!(pages(&f), 0, "and takes no page");
    }

    /// The pages a ramfs file stores.
    fn pages(vp: &VnodeRef) -> usize {
        let file = vp.ops().as_any().and_then(|a| a.downcast_ref::<RamFile>()).unwrap();
        file.object.resident_page_count()
    }

    fn read_all(vp: &VnodeRef) -> Vec<u8> {
        vp.read_to_vec().unwrap()
    }

    #[test]
    fn holes_are_not_stored() {
        let root = ramfs_new_root();
        let f = root.create(b"f", 0o644).unwrap();
        // With no quota to stop it, a write far out stores one page.
        f.write_at(1 << 40, b"far").unwrap();
        assert_eq!((f.size(), pages(&f)), ((1 << 40) + 3, 1));
        let mut buf = [0xffu8; 8];
        assert_eq!(f.read_at((1 << 40) - 5, &mut buf).unwrap(), 8);
        assert_eq!(&buf, b"\0\0\0\0\0far", "the hole reads as zeros");
        // A write across a page boundary lands in both pages.
        let g = root.create(b"g", 0o644).unwrap();
        let data: Vec<u8> = (0..3 * RAMFS_PAGE_SIZE as u32 + 7).map(|i| (i % 251) as u8).collect();
        g.write_at(5, &data).unwrap();
        assert_eq!(pages(&g), 4);
        let back = read_all(&g);
        assert_eq!(&back[..5], &[0; 5]);
        assert_eq!(&back[5..], &data[..]);
    }

    #[test]
    fn setsize_cuts_and_grows_with_zeros() {
        let root = ramfs_new_root();
        let f = root.create(b"f", 0o644).unwrap();
        f.write_at(0, b"hello world").unwrap();
        f.setsize(5).unwrap();
        assert_eq!(read_all(&f), b"hello");
        f.setsize(11).unwrap();
        assert_eq!(read_all(&f), b"hello\0\0\0\0\0\0", "grown again: zeros, not the old bytes");
        // Across pages: what was cut off stays gone, and growing stores nothing.
        let g = root.create(b"g", 0o644).unwrap();
        g.write_at(0, &[0xaa; 3 * RAMFS_PAGE_SIZE]).unwrap();
        assert_eq!(pages(&g), 3);
        g.setsize(RAMFS_PAGE_SIZE as u64 + 10).unwrap();
        assert_eq!(pages(&g), 2, "the pages past the end are freed");
        g.setsize(1 << 30).unwrap();
        assert_eq!((g.size(), pages(&g)), (1 << 30, 2), "growth is a hole");
        let mut buf = [0x55u8; 32];
        assert_eq!(g.read_at(RAMFS_PAGE_SIZE as u64, &mut buf).unwrap(), 32);
        assert!(buf[..10].iter().all(|&b| b == 0xaa) && buf[10..].iter().all(|&b| b == 0), "{buf:?}");
        assert_eq!(g.read_at(3 * RAMFS_PAGE_SIZE as u64 - 1, &mut buf[..1]).unwrap(), 1);
        assert_eq!(buf[0], 0, "the third page's old bytes are gone");
        // A write past a cut leaves zeros between.
        g.setsize(2).unwrap();
        g.write_at(10, b"Z").unwrap();
        assert_eq!(read_all(&g), b"\xaa\xaa\0\0\0\0\0\0\0\0Z");
        g.setsize(0).unwrap();
        assert_eq!((g.size(), pages(&g)), (0, 0));
        assert_eq!(g.setsize(RAMFS_MAXFILESIZE + 1).unwrap_err(), Errno::EFBIG);
        g.setsize(RAMFS_MAXFILESIZE).unwrap();
        assert_eq!(g.size(), i64::MAX as u64, "as long as off_t allows");
    }

    #[test]
    fn setsize_is_charged_to_the_quota() {
        let quota = RamQuota::unlimited();
        let root = super::super::ramfs_new_root_with(quota.clone()).unwrap();
        let f = root.create(b"f", 0o644).unwrap();
        let meta = quota.used();
        quota.cap_growth(10_000);
        f.setsize(10_000).unwrap();
        assert_eq!(quota.used(), meta + 10_000, "a hole is charged like data");
        assert_eq!(f.setsize(10_001).unwrap_err(), Errno::ENOSPC, "one byte past the quota");
        assert_eq!(f.size(), 10_000, "a refused growth changes nothing");
        f.setsize(4_000).unwrap();
        assert_eq!(quota.used(), meta + 4_000, "a cut gives back");
        assert_eq!(f.write_at(4_000, &[1; 6_001]).unwrap_err(), Errno::ENOSPC);
        f.write_at(4_000, &[1; 6_000]).unwrap();
        f.setsize(0).unwrap();
        drop((f, root));
        assert_eq!(quota.used(), 0, "everything comes back");
    }

    #[test]
    fn setsize_by_kind_of_vnode() {
        let root = ramfs_new_root();
        let d = root.mkdir(b"d", 0o755).unwrap();
        assert_eq!(d.setsize(0).unwrap_err(), Errno::EISDIR);
        let l = root.symlink(b"l", 0o755, b"d").unwrap();
        assert_eq!(l.setsize(0), Ok(()), "nothing to set on a link: nothing done");
        assert_eq!(l.readlink().unwrap(), b"d");
        let devs = crate::miscfs::devfs::devfs_new_root().unwrap();
        assert_eq!(
            devs.lookup(b"null").unwrap().setsize(0),
            Ok(()),
            "a device: nothing done, as `> /dev/null`"
        );
    }

    #[test]
    fn locks_are_kept_for_ramfs_files_not_devices() {
        let root = ramfs_new_root();
        let f = root.create(b"f", 0o644).unwrap();
        assert!(f.advlock().is_ok() && root.advlock().is_ok());
        let devs = crate::miscfs::devfs::devfs_new_root().unwrap();
        assert_eq!(devs.lookup(b"null").unwrap().advlock().err(), Some(Errno::ENOTSUP));
        assert_eq!(devs.advlock().err(), Some(Errno::ENOTSUP));
    }

    #[test]
    fn files_share_one_quota_and_give_it_back() {
        let quota = RamQuota::unlimited();
        let root = super::super::ramfs_new_root_with(quota.clone()).unwrap();
        let a = root.create(b"a", 0o644).unwrap();
        a.write_at(0, &[1; 100]).unwrap();
        let meta = quota.used() - 100;
        assert_eq!(meta, 2 * RAMFS_NODE_COST + 1, "two nodes and a one-byte name");
        // Room for another directory and file (two nodes, two one-byte names) and 150 bytes.
        quota.cap_growth(2 * RAMFS_NODE_COST + 2 + 150);
        let b = root.mkdir(b"d", 0o755).unwrap().create(b"b", 0o644).unwrap();
        b.write_at(0, &[2; 100]).unwrap();
        assert_eq!(a.write_at(100, &[3; 51]).unwrap_err(), Errno::ENOSPC, "over the quota");
        assert_eq!(a.size(), 100, "a refused write changes nothing");
        a.write_at(100, &[3; 50]).unwrap();
        a.write_at(0, &[4; 150]).unwrap(); // rewriting held bytes costs nothing
        assert_eq!(quota.used(), meta + 2 * RAMFS_NODE_COST + 2 + 250);
        drop((a, b, root));
        assert_eq!(quota.used(), 0, "freed files give their bytes back");
        assert_eq!(quota.nodes(), 0);
    }

    #[test]
    fn making_files_is_charged_and_bounded() {
        // Issue 11 item 10: every file's vnode and name lived on the kernel heap outside the
        // quota, so empty files could be made until the heap was gone.
        let quota = RamQuota::unlimited();
        let root = super::super::ramfs_new_root_with(quota.clone()).unwrap();
        quota.cap_node_growth(3);
        let d = root.mkdir(b"dir", 0o755).unwrap();
        d.create(b"one", 0o644).unwrap();
        d.symlink(b"two", 0o755, b"one").unwrap();
        assert_eq!(quota.nodes(), 4);
        assert_eq!(d.create(b"three", 0o644).unwrap_err(), Errno::ENOSPC, "past the node limit");
        assert_eq!(d.mkdir(b"three", 0o755).unwrap_err(), Errno::ENOSPC);
        assert_eq!(d.lookup(b"three").unwrap_err(), Errno::ENOENT, "a refused create leaves no name");
        // A hard link makes no node: only its name is charged.
        d.link(b"again", &d.lookup(b"one").unwrap()).unwrap();
        assert_eq!(quota.nodes(), 4);
        // The byte quota covers metadata too: with no bytes left, not even a name fits.
        let used = quota.used();
        quota.cap_node_growth(100);
        quota.cap_growth(RAMFS_NODE_COST + 3);
        d.create(b"abc", 0o644).unwrap();
        assert_eq!(quota.used(), used + RAMFS_NODE_COST + 3);
        assert_eq!(d.create(b"x", 0o644).unwrap_err(), Errno::ENOSPC, "past the byte quota");
        assert_eq!(d.link(b"y", &root).unwrap_err(), Errno::EPERM);
        assert_eq!(d.lookup(b"x").unwrap_err(), Errno::ENOENT);
        assert_eq!(quota.used(), used + RAMFS_NODE_COST + 3, "a refused create takes nothing");
        drop((d, root));
        assert_eq!((quota.used(), quota.nodes()), (0, 0), "everything comes back");
    }

    #[test]
    fn hard_link_shares_the_file() {
        let root = ramfs_new_root();
        let d = root.mkdir(b"d", 0o755).unwrap();
        let f = root.create(b"f", 0o644).unwrap();
        d.link(b"g", &f).unwrap();
        f.write_at(0, b"same").unwrap();
        assert_eq!(d.lookup(b"g").unwrap().read_to_vec().unwrap(), b"same");
        assert_eq!(d.link(b"g", &f).unwrap_err(), Errno::EEXIST);
    }

    #[test]
    fn remove_follows_the_kind_and_gives_back() {
        let quota = RamQuota::unlimited();
        let root = super::super::ramfs_new_root_with(quota.clone()).unwrap();
        let before = (quota.used(), quota.nodes());
        let d = root.mkdir(b"d", 0o755).unwrap();
        let f = d.create(b"f", 0o644).unwrap();
        f.write_at(0, b"kept").unwrap();
        assert_eq!(root.remove(b"d", false).unwrap_err(), Errno::EPERM, "unlink of a directory");
        assert_eq!(d.remove(b"f", true).unwrap_err(), Errno::ENOTDIR, "rmdir of a file");
        assert_eq!(root.remove(b"d", true).unwrap_err(), Errno::ENOTEMPTY);
        assert_eq!(root.remove(b".", true).unwrap_err(), Errno::EINVAL);
        let gone = d.remove(b"f", false).unwrap();
        assert_eq!(d.lookup(b"f").unwrap_err(), Errno::ENOENT);
        assert_eq!(gone.read_to_vec().unwrap(), b"kept", "a removed file lives while held");
        drop((gone, f));
        root.remove(b"d", true).unwrap();
        assert_eq!(
            d.create(b"late", 0o644).unwrap_err(),
            Errno::ENOENT,
            "nothing is made in a removed directory"
        );
        drop(d);
        assert_eq!((quota.used(), quota.nodes()), before, "everything came back");
        assert_eq!(root.remove(b"nope", false).unwrap_err(), Errno::ENOENT);
    }

    #[test]
    fn rename_moves_replaces_and_refuses() {
        let quota = RamQuota::unlimited();
        let root = super::super::ramfs_new_root_with(quota.clone()).unwrap();
        let a = root.mkdir(b"a", 0o755).unwrap();
        let b = root.mkdir(b"b", 0o755).unwrap();
        let f = a.create(b"f", 0o644).unwrap();
        let g = b.create(b"g", 0o644).unwrap();
        // Within a directory, and across.
        a.rename(b"f", &a, b"f2").unwrap();
        assert!(Arc::ptr_eq(&a.lookup(b"f2").unwrap(), &f));
        a.rename(b"f2", &b, b"g").unwrap();
        assert!(Arc::ptr_eq(&b.lookup(b"g").unwrap(), &f), "the target was replaced");
        assert_eq!(a.lookup(b"f2").unwrap_err(), Errno::ENOENT);
        drop(g);
        // The same file under both names: nothing happens.
        b.link(b"h", &f).unwrap();
        b.rename(b"g", &b, b"h").unwrap();
        assert!(b.lookup(b"g").is_ok() && b.lookup(b"h").is_ok());
        // Kinds must agree; directories move with their `..`.
        let sub = a.mkdir(b"sub", 0o755).unwrap();
        assert_eq!(b.rename(b"g", &a, b"sub").unwrap_err(), Errno::EISDIR);
        assert_eq!(a.rename(b"sub", &b, b"g").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(root.rename(b"a", &sub, b"x").unwrap_err(), Errno::EINVAL, "into its own subtree");
        assert_eq!(root.rename(b"a", &a, b"x").unwrap_err(), Errno::EINVAL, "into itself");
        a.rename(b"sub", &b, b"sub").unwrap();
        assert!(Arc::ptr_eq(&sub.lookup(b"..").unwrap(), &b), "the moved directory's .. follows it");
        // A non-empty directory cannot be replaced; an empty one can.
        let full = root.mkdir(b"full", 0o755).unwrap();
        full.create(b"x", 0o644).unwrap();
        assert_eq!(b.rename(b"sub", &root, b"full").unwrap_err(), Errno::ENOTEMPTY);
        root.mkdir(b"empty", 0o755).unwrap();
        b.rename(b"sub", &root, b"empty").unwrap();
        assert!(Arc::ptr_eq(&root.lookup(b"empty").unwrap(), &sub));
        assert_eq!(a.rename(b"missing", &b, b"y").unwrap_err(), Errno::ENOENT);
        // Names are charged as they are held.
        drop((a, b, f, sub, full, root));
        assert_eq!((quota.used(), quota.nodes()), (0, 0));
    }

    #[test]
    fn children_do_not_keep_their_directory_alive() {
        let root = ramfs_new_root();
        let d = root.mkdir(b"d", 0o755).unwrap();
        let weak_root = Arc::downgrade(&root);
        drop(root);
        assert!(weak_root.upgrade().is_none());
        assert!(d.parent().is_none());
    }

    #[test]
    fn file_pages_are_one_vm_object_for_io_and_mappings() {
        use osfmk::vm::test_support::FakePool;
        let (fake, pool) = FakePool::new();
        let quota = RamQuota::with_pool(pool.clone());
        let root = super::super::ramfs_new_root_with(quota.clone()).unwrap();
        let f = root.create(b"f", 0o644).unwrap();
        f.write_at(0, b"shared pages").unwrap();
        let object = f.ops().vm_object().expect("a ramfs file has an object");
        assert!(Arc::ptr_eq(&object, &f.ubc_getobject().unwrap()), "one object per file");
        let mut seen = [0u8; 6];
        object.read_bytes(0, &mut seen);
        assert_eq!(&seen, b"shared", "a mapper sees what write() stored");
        object.write_bytes(&pool, 7, b"PAGES").unwrap();
        assert_eq!(read_all(&f), b"shared PAGES", "read() sees what a mapper stored");
        // A cut while the object is held elsewhere keeps the page but zeroes it.
        f.setsize(3).unwrap();
        assert_eq!((fake.outstanding(), pages(&f)), (1, 1));
        object.read_bytes(0, &mut seen);
        assert_eq!(&seen, b"sha\0\0\0");
        f.setsize(12).unwrap();
        assert_eq!(read_all(&f), b"sha\0\0\0\0\0\0\0\0\0");
        drop(object);
        f.setsize(0).unwrap();
        assert_eq!(fake.outstanding(), 0, "not held: a cut frees");
        // A mapping that outlives its file keeps the pages, and their charge, until it goes.
        f.write_at(0, &[1; 100]).unwrap();
        let mapping = f.ubc_getobject().unwrap();
        let held = quota.used();
        root.remove(b"f", false).unwrap();
        drop(f);
        assert_eq!((quota.used(), fake.outstanding()), (held - RAMFS_NODE_COST - 1, 1));
        drop(mapping);
        assert_eq!((quota.used(), fake.outstanding()), (held - RAMFS_NODE_COST - 1 - 100, 0));
        let f = root.create(b"f", 0o644).unwrap();
        f.write_at(2 * RAMFS_PAGE_SIZE as u64, b"x").unwrap();
        drop((f, root));
        assert_eq!(fake.outstanding(), 0, "a file's pages go with it");
    }

    #[test]
    fn no_pages_left_is_enospc_and_changes_nothing() {
        use osfmk::vm::test_support::FakePool;
        let (fake, pool) = FakePool::new();
        let root = super::super::ramfs_new_root_with(RamQuota::with_pool(pool)).unwrap();
        let f = root.create(b"f", 0o644).unwrap();
        f.write_at(0, b"kept").unwrap();
        fake.set_limit(Some(1));
        assert_eq!(f.write_at(RAMFS_PAGE_SIZE as u64 - 1, b"ab").unwrap_err(), Errno::ENOSPC);
        assert_eq!((f.size(), read_all(&f)), (4, b"kept".to_vec()), "the file is as it was");
        f.write_at(4, b"!").unwrap();
        assert_eq!(read_all(&f), b"kept!", "writes within held pages still work");
        // Special files and directories have no object to map.
        let d = root.mkdir(b"d", 0o755).unwrap();
        assert_eq!(d.ubc_getobject().err(), Some(Errno::EINVAL));
        let fifo = root.mknod(b"p", VType::VFIFO, 0o644, 0).unwrap();
        assert_eq!(fifo.ubc_getobject().err(), Some(Errno::EINVAL));
        let null = crate::miscfs::devfs::devfs_new_root().unwrap().lookup(b"null").unwrap();
        assert_eq!(null.ubc_getobject().err(), Some(Errno::ENODEV));
    }
}
