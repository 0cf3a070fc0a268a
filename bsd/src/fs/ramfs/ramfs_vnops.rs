//! ramfs node types and their vnode operations: [`RamDir`], [`RamFile`], [`RamSymlink`].

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use osfmk::kern::locks::SpinLock;
use sys::Errno;

use crate::vfs::vnode::{DirEntry, VType, Vnode, VnodeOps, VnodeRef};

/// How many bytes of file data one ramfs may hold, and how many it holds. File data lives on
/// the kernel heap (until files are backed by VM pages), so a bound keeps one program writing
/// a huge file from starving every other kernel allocation: it gets ENOSPC instead.
pub struct RamQuota {
    used: AtomicUsize,
    limit: AtomicUsize,
}

impl RamQuota {
    /// No limit (yet).
    pub fn unlimited() -> Arc<RamQuota> {
        Arc::new(RamQuota { used: AtomicUsize::new(0), limit: AtomicUsize::new(usize::MAX) })
    }

    /// From now on, allow `extra` bytes beyond what is held now.
    pub fn cap_growth(&self, extra: usize) {
        self.limit.store(self.used.load(Ordering::Acquire).saturating_add(extra), Ordering::Release);
    }

    /// Bytes held.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn charge(&self, n: usize) -> Result<(), Errno> {
        let limit = self.limit.load(Ordering::Acquire);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_add(n).filter(|&t| t <= limit))
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    fn credit(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A directory: its entries by name. A `BTreeMap` so `readdir` lists them in a stable,
/// sorted order.
pub(super) struct RamDir {
    entries: SpinLock<BTreeMap<Vec<u8>, VnodeRef>>,
    /// The file system's data quota, handed to every node made here.
    quota: Arc<RamQuota>,
}

impl RamDir {
    pub(super) fn new(quota: Arc<RamQuota>) -> RamDir {
        RamDir { entries: SpinLock::new(BTreeMap::new()), quota }
    }

    /// Enters the vnode `make` builds under `name`, unless the name is taken (`EEXIST`).
    fn enter(&self, name: &[u8], make: impl FnOnce() -> VnodeRef) -> Result<VnodeRef, Errno> {
        match self.entries.lock().entry(name.to_vec()) {
            Entry::Occupied(_) => Err(Errno::EEXIST),
            Entry::Vacant(slot) => Ok(slot.insert(make()).clone()),
        }
    }
}

impl VnodeOps for RamDir {
    fn lookup(&self, name: &[u8]) -> Result<VnodeRef, Errno> {
        self.entries.lock().get(name).cloned().ok_or(Errno::ENOENT)
    }

    fn size(&self) -> u64 {
        self.entries.lock().len() as u64
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Ok(self
            .entries
            .lock()
            .iter()
            .map(|(name, vp)| DirEntry { name: name.clone(), vtype: vp.vtype() })
            .collect())
    }

    fn mkdir(&self, dvp: &VnodeRef, name: &[u8], perm: u16) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            Vnode::new(VType::VDIR, perm, Some(dvp), Box::new(RamDir::new(self.quota.clone())))
        })
    }

    fn create(&self, dvp: &VnodeRef, name: &[u8], perm: u16) -> Result<VnodeRef, Errno> {
        self.enter(name, || {
            Vnode::new(VType::VREG, perm, Some(dvp), Box::new(RamFile::new(self.quota.clone())))
        })
    }

    fn symlink(&self, dvp: &VnodeRef, name: &[u8], perm: u16, target: &[u8]) -> Result<VnodeRef, Errno> {
        let ops = Box::new(RamSymlink { target: target.to_vec() });
        self.enter(name, || Vnode::new(VType::VLNK, perm, Some(dvp), ops))
    }

    fn link(&self, name: &[u8], vp: &VnodeRef) -> Result<(), Errno> {
        self.enter(name, || vp.clone()).map(drop)
    }
}

/// A regular file: its bytes, growable so later `write`s work.
pub(super) struct RamFile {
    data: SpinLock<Vec<u8>>,
    quota: Arc<RamQuota>,
}

impl RamFile {
    pub(super) fn new(quota: Arc<RamQuota>) -> RamFile {
        RamFile { data: SpinLock::new(Vec::new()), quota }
    }
}

impl Drop for RamFile {
    fn drop(&mut self) {
        self.quota.credit(self.data.lock().len());
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
        let root = super::super::ramfs_new_root_with(quota.clone());
        let a = root.create(b"a", 0o644).unwrap();
        a.write_at(0, &[1; 100]).unwrap();
        quota.cap_growth(150);
        let b = root.mkdir(b"d", 0o755).unwrap().create(b"b", 0o644).unwrap();
        b.write_at(0, &[2; 100]).unwrap();
        assert_eq!(a.write_at(100, &[3; 51]).unwrap_err(), Errno::ENOSPC, "over the quota");
        assert_eq!(a.size(), 100, "a refused write changes nothing");
        a.write_at(100, &[3; 50]).unwrap();
        a.write_at(0, &[4; 150]).unwrap(); // rewriting held bytes costs nothing
        assert_eq!(quota.used(), 250);
        drop((a, b, root));
        assert_eq!(quota.used(), 0, "freed files give their bytes back");
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
    fn children_do_not_keep_their_directory_alive() {
        let root = ramfs_new_root();
        let d = root.mkdir(b"d", 0o755).unwrap();
        let weak_root = Arc::downgrade(&root);
        drop(root);
        assert!(weak_root.upgrade().is_none());
        assert!(d.parent().is_none());
    }
}
