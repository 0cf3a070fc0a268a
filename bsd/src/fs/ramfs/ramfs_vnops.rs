//! ramfs node types and their vnode operations: [`RamDir`], [`RamFile`], [`RamSymlink`].

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use osfmk::kern::lock_order;
use osfmk::kern::locks::LckMtx;
use sys::Errno;

use crate::vfs::vnode::{DirEntry, VType, Vnode, VnodeOps, VnodeRef};

/// What one node costs the kernel heap besides its name and data, for the quota: the vnode,
/// its operations object, and a directory slot (measured: about 390 bytes a file; rounded up
/// for the allocator's own overhead).
pub const RAMFS_NODE_COST: usize = 512;

/// Most nodes (files, directories, links: vnodes) a ramfs may gain after it is loaded; one
/// more fails with ENOSPC. Each node lives on the kernel heap for as long as its name does, so
/// without a bound any user could fill the heap with empty files in `/tmp`.
pub const RAMFS_NODE_GROWTH_MAX: usize = 2048;

/// How much of the kernel heap one ramfs may hold, and how much it holds: file data, and the
/// metadata of every node and name ([`RAMFS_NODE_COST`] plus the name's bytes). Both live on
/// the kernel heap (until files are backed by VM pages), so a bound keeps one program
/// writing a huge file, or making files without end, from starving every other kernel
/// allocation: it gets ENOSPC instead. Nodes are also counted, with their own limit.
pub struct RamQuota {
    /// One rename at a time in this file system (see `RamDir::rename`).
    rename_lock: LckMtx<()>,
    used: AtomicUsize,
    limit: AtomicUsize,
    nodes: AtomicUsize,
    node_limit: AtomicUsize,
}

impl RamQuota {
    /// No limit (yet).
    pub fn unlimited() -> Arc<RamQuota> {
        Arc::new(RamQuota {
            rename_lock: LckMtx::new(&lock_order::RAMFS_RENAME, ()),
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(usize::MAX),
            nodes: AtomicUsize::new(0),
            node_limit: AtomicUsize::new(usize::MAX),
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
        let names: usize = self.entries.lock().entries.keys().map(Vec::len).sum();
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
            Ok(Vnode::new(VType::VDIR, perm, Some(dvp), Box::new(ops)))
        })
    }

    fn create(&self, dvp: &VnodeRef, name: &[u8], perm: u16) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            let ops = RamFile::new(self.quota.clone())?;
            Ok(Vnode::new(VType::VREG, perm, Some(dvp), Box::new(ops)))
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
            let ops = RamSpecial { rdev, _charge: self.quota.charge_node()? };
            Ok(Vnode::new(vtype, perm, Some(dvp), Box::new(ops)))
        })
    }

    fn symlink(&self, dvp: &VnodeRef, name: &[u8], perm: u16, target: &[u8]) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            let ops = RamSymlink::new(&self.quota, target)?;
            Ok(Vnode::new(VType::VLNK, perm, Some(dvp), Box::new(ops)))
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

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

/// The ramfs directory behind `vp`: `ENOTDIR` for anything else (another file system's
/// directory included).
fn ram_dir(vp: &VnodeRef) -> Result<&RamDir, Errno> {
    vp.ops().as_any().and_then(|a| a.downcast_ref::<RamDir>()).ok_or(Errno::ENOTDIR)
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

/// A regular file: its bytes, growable so later `write`s work.
pub(super) struct RamFile {
    data: LckMtx<Vec<u8>>,
    quota: Arc<RamQuota>,
    _charge: NodeCharge,
}

impl RamFile {
    /// An empty file's operations, charged as one node (ENOSPC past the quota).
    pub(super) fn new(quota: Arc<RamQuota>) -> Result<RamFile, Errno> {
        let charge = quota.charge_node()?;
        Ok(RamFile { data: LckMtx::new(&lock_order::RAMFS_FILE, Vec::new()), quota, _charge: charge })
    }
}

impl Drop for RamFile {
    fn drop(&mut self) {
        self.quota.credit(self.data.get_mut().len());
    }
}

impl VnodeOps for RamFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let data = self.data.lock();
        let Some(src) = usize::try_from(off).ok().and_then(|off| data.get(off..)) else {
            return Ok(0);
        };
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let start = usize::try_from(off).map_err(|_| Errno::EFBIG)?;
        let end = start.checked_add(buf.len()).ok_or(Errno::EFBIG)?;
        let mut data = self.data.lock();
        if let Some(grow) = end.checked_sub(data.len()) {
            // A write far past the end, or beyond the quota, must fail, not abort the kernel
            // on a failed allocation.
            self.quota.charge(grow)?;
            if data.try_reserve(grow).is_err() {
                self.quota.credit(grow);
                return Err(Errno::ENOSPC);
            }
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(buf.len())
    }

    fn size(&self) -> u64 {
        self.data.lock().len() as u64
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
    _charge: NodeCharge,
}

impl VnodeOps for RamSpecial {
    fn size(&self) -> u64 {
        0
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
        let root = ramfs_new_root();
        let f = root.create(b"f", 0o644).unwrap();
        assert_eq!(f.write_at(u64::MAX, b"x").unwrap_err(), Errno::EFBIG);
        assert_eq!(f.write_at(1 << 62, b"x").unwrap_err(), Errno::ENOSPC);
        assert_eq!(f.size(), 0);
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
}
