//! The vnode (XNU's `struct vnode`): one file, directory or link as the rest of the kernel sees
//! it, whatever file system holds it.
//!
//! A [`Vnode`] keeps what every file system shares — its type, its mode and owner, the
//! directory it was made in (for `..`), its links to the mount table (`vfs_mount`) and the
//! advisory locks on it (`flock`, `kern_lockf`) — and decides permissions from them
//! ([`Vnode::authorize`]); it hands everything else to a [`VnodeOps`] object owned by the
//! file system (XNU splits this into `v_op` and `v_data`; one trait object does both here).
//! The `Vnode` methods check what can be checked without the file system (is this a directory,
//! is the name well formed) so each file system only implements the operations its node
//! types support and inherits the right error for the rest.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicUsize, Ordering};

use sys::Errno;

use osfmk::kern::lock_order;
use osfmk::kern::locks::SimpleLock;
use osfmk::vm::vm_object::ObjectRef;
use sys::stat::Timespec;

use crate::kern::kern_credential::CredGroups;
use crate::kern::kern_lockf::Lockf;
use crate::vfs::vfs_mount::MountRef;

use super::{
    ALLPERMS, MAXPATHLEN, NAME_MAX, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK,
};

/// The most hard links one file may have (`LINK_MAX`); one more is `EMLINK`.
pub const LINK_MAX: u32 = 32767;

/// A counted reference to a vnode; the vnode lives while anyone (a directory, an open file, a
/// process's cwd) holds one.
pub type VnodeRef = Arc<Vnode>;

/// What kind of object a vnode is (XNU `sys/vnode.h` `enum vtype`, same values).
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VType {
    /// No type.
    VNON = 0,
    /// Regular file.
    VREG = 1,
    /// Directory.
    VDIR = 2,
    /// Block device.
    VBLK = 3,
    /// Character device.
    VCHR = 4,
    /// Symbolic link.
    VLNK = 5,
    /// Socket.
    VSOCK = 6,
    /// Named pipe.
    VFIFO = 7,
}

impl VType {
    /// The type named by the `S_IFMT` bits of `mode` (XNU's `IFTOVT`).
    pub fn from_mode(mode: u16) -> VType {
        match mode & S_IFMT {
            S_IFREG => VType::VREG,
            S_IFDIR => VType::VDIR,
            S_IFBLK => VType::VBLK,
            S_IFCHR => VType::VCHR,
            S_IFLNK => VType::VLNK,
            S_IFSOCK => VType::VSOCK,
            S_IFIFO => VType::VFIFO,
            _ => VType::VNON,
        }
    }

    /// The `S_IFMT` bits for this type (XNU's `VTTOIF`); `VNON` has none.
    pub fn mode_bits(self) -> u16 {
        match self {
            VType::VNON => 0,
            VType::VREG => S_IFREG,
            VType::VDIR => S_IFDIR,
            VType::VBLK => S_IFBLK,
            VType::VCHR => S_IFCHR,
            VType::VLNK => S_IFLNK,
            VType::VSOCK => S_IFSOCK,
            VType::VFIFO => S_IFIFO,
        }
    }
}

/// One directory entry as [`Vnode::readdir`] reports it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DirEntry {
    /// The entry's name (never `.` or `..`).
    pub name: Vec<u8>,
    /// The type of the vnode it names.
    pub vtype: VType,
}

/// The operations a file system implements for its vnodes (XNU's `VNOP_*` vector).
///
/// Callers go through the [`Vnode`] methods of the same names, which check the vnode type and
/// the name first; an implementation can rely on those checks. Every operation has a default
/// that fails, so a node type implements only what it supports.
pub trait VnodeOps: Send + Sync {
    /// Finds `name` in this directory (`VNOP_LOOKUP`). `name` is a single component, never
    /// `.` or `..`. Missing: `ENOENT`.
    fn lookup(&self, _name: &[u8]) -> Result<VnodeRef, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Reads from byte `off` into `buf`, returning how many bytes were read; 0 at or past the
    /// end (`VNOP_READ`).
    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// Writes `buf` at byte `off`, growing the file as needed, and returns how many bytes were
    /// written (`VNOP_WRITE`).
    fn write_at(&self, _off: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// The target of this symbolic link (`VNOP_READLINK`).
    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }

    /// Size in bytes as `stat` reports it: a file's length, a link's target length.
    fn size(&self) -> u64;

    /// Makes this regular file `size` bytes long (XNU's `VNOP_SETATTR` with `va_data_size`):
    /// bytes past the new end go; a longer file reads as zeros beyond the old end. The file
    /// system's budget applies to the growth (`ENOSPC`, `EFBIG` past its largest file).
    fn setsize(&self, _size: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    /// The number of the file system this vnode belongs to, the same for all its vnodes and
    /// no other file system's (`st_dev`, the first word of `f_fsid`; XNU reaches it through
    /// `v_mount`). 0: none.
    fn fsid(&self) -> u32 {
        0
    }

    /// Does the file system leave this vnode's advisory locks (`flock`) to the vnode layer
    /// (XNU's `VLOCKLOCAL`)? One that does not has none: `ENOTSUP`, as XNU's `err_advlock`.
    fn local_locks(&self) -> bool {
        false
    }

    /// The device number of a device node (`va_rdev`); 0 for anything else.
    fn rdev(&self) -> u32 {
        0
    }

    /// The VM object holding this regular file's pages, for `mmap` (XNU's `ubc_getobject`):
    /// the same pages `read_at` and `write_at` use, so every mapper and every reader sees
    /// one copy of the data. `None`: the file system's files cannot be mapped (`ENODEV`).
    fn vm_object(&self) -> Option<ObjectRef> {
        None
    }

    /// This directory's entries, without `.` and `..` (`VNOP_READDIR`).
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Makes directory `name` in this directory (`VNOP_MKDIR`). `dvp` is the vnode these
    /// operations belong to, passed so the new vnode can point back at it for `..`.
    fn mkdir(&self, _dvp: &VnodeRef, _name: &[u8], _perm: u16) -> Result<VnodeRef, Errno> {
        Err(Errno::ENOTSUP)
    }

    /// Makes an empty regular file `name` in this directory (`VNOP_CREATE`).
    fn create(&self, _dvp: &VnodeRef, _name: &[u8], _perm: u16) -> Result<VnodeRef, Errno> {
        Err(Errno::ENOTSUP)
    }

    /// Makes special file `name` in this directory (`VNOP_MKNOD`): a FIFO, or a character
    /// or block device node naming device `rdev`.
    fn mknod(
        &self,
        _dvp: &VnodeRef,
        _name: &[u8],
        _vtype: VType,
        _perm: u16,
        _rdev: u32,
    ) -> Result<VnodeRef, Errno> {
        Err(Errno::ENOTSUP)
    }

    /// Makes symbolic link `name` pointing at `target` in this directory (`VNOP_SYMLINK`).
    fn symlink(&self, _dvp: &VnodeRef, _name: &[u8], _perm: u16, _target: &[u8]) -> Result<VnodeRef, Errno> {
        Err(Errno::ENOTSUP)
    }

    /// Enters the existing non-directory `vp` under a second name (`VNOP_LINK`). The caller
    /// makes sure `vp` belongs to the same file system (`EXDEV` otherwise).
    fn link(&self, _name: &[u8], _vp: &VnodeRef) -> Result<(), Errno> {
        Err(Errno::ENOTSUP)
    }

    /// Removes entry `name` (`VNOP_REMOVE`, or `VNOP_RMDIR` when `dir`): a directory only
    /// with `dir` (`EPERM` from unlink, as XNU answers) and only when empty (`ENOTEMPTY`); a
    /// non-directory only without it (`ENOTDIR`). Returns the vnode, which lives on while
    /// anyone holds it (an open file stays readable).
    fn remove(&self, _name: &[u8], _dir: bool) -> Result<VnodeRef, Errno> {
        Err(Errno::ENOTSUP)
    }

    /// Moves entry `from` of this directory (`dvp`) to `to` in directory `tdvp` of the same
    /// file system (`VNOP_RENAME`), replacing what `to` named: a directory only by a
    /// directory and only if empty (`ENOTEMPTY`; `EISDIR` for a file onto a directory,
    /// `ENOTDIR` the other way); a directory not into itself or its own subtree (`EINVAL`).
    fn rename(&self, _dvp: &VnodeRef, _from: &[u8], _tdvp: &VnodeRef, _to: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENOTSUP)
    }

    /// This object, for a file system to recognise its own directories in a rename.
    fn as_any(&self) -> Option<&dyn core::any::Any> {
        None
    }
}

/// The part of a caller's credential that file permissions look at (XNU's `posix_cred`
/// inside a `kauth_cred`): its effective user and group ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KauthCred {
    pub uid: u32,
    pub gid: u32,
    /// The supplementary groups (`setgroups`), which the group bits also grant to.
    pub groups: CredGroups,
}

impl KauthCred {
    /// The super-user.
    pub const ROOT: KauthCred = KauthCred { uid: 0, gid: 0, groups: CredGroups::NONE };

    /// Effective ids `uid` and `gid`.
    pub const fn new(uid: u32, gid: u32) -> KauthCred {
        KauthCred { uid, gid, groups: CredGroups::NONE }
    }
}

/// Read permission, in the owner's position of the mode bits (XNU's `VREAD`); the group's
/// and others' are these shifted right by 3 and 6, as BSD's `vaccess` does.
pub const VREAD: u16 = 0o400;
/// Write permission (XNU's `VWRITE`).
pub const VWRITE: u16 = 0o200;
/// Execute permission; search, for a directory (XNU's `VEXEC`).
pub const VEXEC: u16 = 0o100;

/// The mounts a vnode takes part in: the file system mounted on this directory (XNU's
/// `v_mountedhere`), and the mount this vnode is the root of (so `..` can leave it for the
/// directory it covers; XNU finds it through `v_mount` and the `VROOT` flag).
#[derive(Default)]
pub(crate) struct MountLinks {
    pub(crate) mountedhere: Option<MountRef>,
    pub(crate) root_of: Option<Weak<crate::vfs::vfs_mount::Mount>>,
}

/// A file, directory or link, shared by every holder through a [`VnodeRef`].
pub struct Vnode {
    vtype: VType,
    /// Type and permission bits as `stat` reports them. Atomic so `chmod` needs no lock.
    mode: AtomicU16,
    /// Owner and group (XNU's `va_uid`/`va_gid`), atomic as `mode` is.
    uid: AtomicU32,
    gid: AtomicU32,
    /// Mount links; a reader-writer spin lock, held only to clone or swap a pointer (mounts
    /// change rarely, every lookup reads them).
    pub(crate) mounts: spin::RwLock<MountLinks>,
    /// The directory this vnode was made in. Weak because the directory holds the child: a
    /// strong link back would keep both alive forever. Empty for a file system's root.
    /// Changes only when a rename moves a directory (under its file system's rename lock).
    parent: spin::RwLock<Weak<Vnode>>,
    /// The file's number (`st_ino`, `d_ino`): unique among live vnodes, never 0.
    fileid: u64,
    /// Names the vnode has (`st_nlink`): a file's hard links; a directory's entry in its
    /// parent, its own `.`, and each subdirectory's `..`. Kept by the `Vnode` methods that
    /// add and remove names, so every file system counts the same way.
    nlink: AtomicU32,
    /// Access, modification, status-change and creation times (`va_access_time` ...), under
    /// a spin lock held only to copy them.
    times: SimpleLock<VnodeTimes>,
    /// A FIFO's pipe while anyone has it open (XNU's `v_fifoinfo`): made by the first open,
    /// dropped with its data at the last close. Its type belongs to `miscfs::fifofs`, which
    /// alone puts it here and takes it out.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    pub(crate) fifoinfo: SimpleLock<Option<Arc<dyn core::any::Any + Send + Sync>>>,
    /// Advisory locks on the file (`flock`; XNU's `v_lockf`).
    lockf: Lockf,
    /// Its place in the system's count of vnodes (`kern.num_vnodes`), given back with it.
    _counted: VnodeCharge,
    /// Long-term uses ([`VnodeUse`]: open files, working and root directories), XNU's
    /// `v_usecount`. Short-term references — a lookup's result, the vnode an operation
    /// works on, XNU's `v_iocount` — are the [`VnodeRef`]s themselves (`Arc` clones).
    usecount: AtomicU32,
    /// Revoked by a forced unmount (XNU's `VDEAD`: its operations became `deadfs`'s).
    dead: core::sync::atomic::AtomicBool,
    ops: Box<dyn VnodeOps>,
}

/// A vnode's four times, as `stat` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnodeTimes {
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    pub birthtime: Timespec,
}

/// Which times an event changes (XNU's `VNODE_UPDATE_*` in spirit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUpdate {
    /// Data was read: the access time.
    Access,
    /// Data or entries changed: the modification and status-change times.
    Modify,
    /// Only the inode changed (mode, owner, links): the status-change time.
    Change,
}

/// The clock vnode times come from (the kernel's time of day; host tests leave it unset,
/// and then every time is 0).
static VFS_CLOCK: spin::Once<fn() -> Timespec> = spin::Once::new();

/// Tells the VFS where the time of day comes from (once, at boot).
pub fn set_vfs_clock(clock: fn() -> Timespec) {
    VFS_CLOCK.call_once(|| clock);
}

/// The time of day as the VFS stamps it (`vfs_timestamp`).
pub fn vfs_timestamp() -> Timespec {
    VFS_CLOCK.get().map_or(Timespec::default(), |clock| clock())
}

/// The most vnodes XNU's "medium" configuration allows (`CONFIG_VNODES`): `kern.maxvnodes`
/// never starts higher.
pub const CONFIG_VNODES: usize = 263_168;

/// `kern.maxvnodes` for a machine with `memsize` bytes of memory, as XNU computes
/// `desiredvnodes` at boot: one vnode per 64 KiB plus 1024, at most [`CONFIG_VNODES`].
pub fn desiredvnodes(memsize: u64) -> usize {
    usize::try_from(memsize / 65536).unwrap_or(usize::MAX).saturating_add(1024).min(CONFIG_VNODES)
}

/// A count of vnodes and its limit (`numvnodes` and `desiredvnodes`): every vnode holds a
/// [`VnodeCharge`] from it. This kernel's file systems keep their nodes as vnodes (nothing
/// can be recycled to make room), so past the limit a new vnode is `ENFILE`, as XNU's
/// `new_vnode` gives when its table is full.
pub struct VnodeTable {
    count: AtomicUsize,
    limit: AtomicUsize,
}

impl VnodeTable {
    /// An empty table allowing `limit` vnodes.
    pub const fn new(limit: usize) -> VnodeTable {
        VnodeTable { count: AtomicUsize::new(0), limit: AtomicUsize::new(limit) }
    }

    /// Counts one more vnode, or `ENFILE` if there are `limit` already.
    pub fn reserve(&'static self) -> Result<VnodeCharge, Errno> {
        let limit = self.limit.load(Ordering::Acquire);
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1).filter(|&t| t <= limit))
            .map(|_| VnodeCharge { table: self })
            .map_err(|_| Errno::ENFILE)
    }

    /// (`kern.maxvnodes`, `kern.num_vnodes`).
    pub fn counts(&self) -> (usize, usize) {
        (self.limit.load(Ordering::Acquire), self.count.load(Ordering::Acquire))
    }

    /// Sets the limit (at least 1, else `EINVAL`); vnodes that exist stay.
    pub fn set_limit(&self, limit: usize) -> Result<(), Errno> {
        if limit == 0 {
            return Err(Errno::EINVAL);
        }
        self.limit.store(limit, Ordering::Release);
        Ok(())
    }
}

/// One vnode's place in a [`VnodeTable`], given back when dropped.
pub struct VnodeCharge {
    table: &'static VnodeTable,
}

impl Drop for VnodeCharge {
    fn drop(&mut self) {
        self.table.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A long-term use of a vnode (XNU's `vnode_ref` … `vnode_rele`): what an open file, or a
/// process's or thread's working or root directory, holds. It counts in the vnode's
/// `v_usecount` and in its mount's use count, and while any use of a file system's vnodes
/// is held the file system cannot be unmounted (`EBUSY`) — descriptors in flight in Mach
/// messages and fileports included, as on XNU, since they hold the open file. A plain
/// [`VnodeRef`] is the short-term kind (XNU's `v_iocount`): it keeps the vnode alive for an
/// operation, not the file system mounted.
pub struct VnodeUse {
    vp: VnodeRef,
    /// The mount charged when the use was taken (none: the file system was not mounted).
    mount: Option<MountRef>,
}

impl VnodeUse {
    /// Takes a long-term use of `vp`.
    pub fn new(vp: VnodeRef) -> VnodeUse {
        vp.usecount.fetch_add(1, Ordering::AcqRel);
        let mount = crate::vfs::vfs_mount::vnode_mount_use(&vp);
        VnodeUse { vp, mount }
    }

    /// The vnode in use.
    pub fn vnode(&self) -> &VnodeRef {
        &self.vp
    }

    /// Its long-term uses now (`v_usecount`).
    pub fn usecount(&self) -> u32 {
        self.vp.usecount.load(Ordering::Acquire)
    }
}

impl Clone for VnodeUse {
    fn clone(&self) -> VnodeUse {
        VnodeUse::new(self.vp.clone())
    }
}

impl Drop for VnodeUse {
    fn drop(&mut self) {
        self.vp.usecount.fetch_sub(1, Ordering::AcqRel);
        if let Some(mp) = &self.mount {
            mp.use_release(&self.vp);
        }
    }
}

impl core::ops::Deref for VnodeUse {
    type Target = VnodeRef;
    fn deref(&self) -> &VnodeRef {
        &self.vp
    }
}

impl fmt::Debug for VnodeUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VnodeUse({:?})", self.vp)
    }
}

/// The system's vnodes: `kern.maxvnodes` (set from the memory size at boot; root may
/// change it) and `kern.num_vnodes`.
pub static VNODES: VnodeTable = VnodeTable::new(CONFIG_VNODES);

/// The next vnode's file number.
static NEXT_FILEID: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(2);

impl Vnode {
    /// A new vnode of type `vtype` with permissions `perm` (bits outside [`ALLPERMS`] are
    /// dropped), made in directory `parent` (`None` for a file system's root). It belongs to
    /// root and, as on BSD, to its directory's group; [`Vnode::set_owner`] gives it another.
    /// Past `kern.maxvnodes`: `ENFILE`.
    pub fn new(
        vtype: VType,
        perm: u16,
        parent: Option<&VnodeRef>,
        ops: Box<dyn VnodeOps>,
    ) -> Result<VnodeRef, Errno> {
        let counted = VNODES.reserve()?;
        let gid = parent.map_or(0, |d| d.gid());
        Ok(Arc::new(Vnode {
            vtype,
            mode: AtomicU16::new(vtype.mode_bits() | (perm & ALLPERMS)),
            uid: AtomicU32::new(0),
            gid: AtomicU32::new(gid),
            mounts: spin::RwLock::new(MountLinks::default()),
            parent: spin::RwLock::new(parent.map(Arc::downgrade).unwrap_or_default()),
            fileid: NEXT_FILEID.fetch_add(1, Ordering::Relaxed),
            nlink: AtomicU32::new(if vtype == VType::VDIR { 2 } else { 1 }),
            times: SimpleLock::new(&lock_order::VNODE_TIMES, {
                let now = vfs_timestamp();
                VnodeTimes { atime: now, mtime: now, ctime: now, birthtime: now }
            }),
            fifoinfo: SimpleLock::new(&lock_order::FIFOINFO, None),
            lockf: Lockf::new(),
            _counted: counted,
            usecount: AtomicU32::new(0),
            dead: core::sync::atomic::AtomicBool::new(false),
            ops,
        }))
    }

    /// How many names the vnode has (`st_nlink`).
    pub fn nlink(&self) -> u32 {
        self.nlink.load(Ordering::Relaxed)
    }

    fn nlink_add(&self, up: bool) {
        let _ = self.nlink.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            Some(if up { n.saturating_add(1) } else { n.saturating_sub(1) })
        });
    }

    /// The vnode's times.
    pub fn times(&self) -> VnodeTimes {
        *self.times.lock()
    }

    /// Stamps the times `what` changes with the time of day.
    pub fn touch(&self, what: TimeUpdate) {
        let now = vfs_timestamp();
        let mut t = self.times.lock();
        match what {
            TimeUpdate::Access => t.atime = now,
            TimeUpdate::Modify => {
                t.mtime = now;
                t.ctime = now;
            }
            TimeUpdate::Change => t.ctime = now,
        }
    }

    /// Sets the access and modification times (`utimes`); the status-change time becomes
    /// now.
    pub fn set_times(&self, atime: Timespec, mtime: Timespec) {
        let now = vfs_timestamp();
        let mut t = self.times.lock();
        t.atime = atime;
        t.mtime = mtime;
        t.ctime = now;
    }

    /// Removes `name` from this directory (see [`VnodeOps::remove`]). `.` may not be
    /// removed (`EINVAL`), nor `..`, which is never empty to rmdir (`ENOTEMPTY`, as BSD
    /// answers) and a directory to unlink (`EPERM`).
    pub fn remove(&self, name: &[u8], dir: bool) -> Result<VnodeRef, Errno> {
        self.require_dir()?;
        self.require_writable()?;
        check_name(name)?;
        match (name, dir) {
            (b".", _) => Err(Errno::EINVAL),
            (b"..", true) => Err(Errno::ENOTEMPTY),
            (b"..", false) => Err(Errno::EPERM),
            _ => {
                let vp = self.ops.remove(name, dir)?;
                vp.name_gone(self);
                self.touch(TimeUpdate::Modify);
                Ok(vp)
            }
        }
    }

    /// This vnode lost its name in directory `dvp` (removed, or replaced by a rename): one
    /// link fewer, and a directory's `.` and its `..` in `dvp` go with its only name.
    fn name_gone(&self, dvp: &Vnode) {
        if self.vtype == VType::VDIR {
            self.nlink.store(0, Ordering::Relaxed);
            dvp.nlink_add(false);
        } else {
            self.nlink_add(false);
            self.touch(TimeUpdate::Change);
        }
    }

    /// Renames `from` here to `to` in `tdvp` (see [`VnodeOps::rename`]).
    pub fn rename(self: &Arc<Self>, from: &[u8], tdvp: &VnodeRef, to: &[u8]) -> Result<(), Errno> {
        self.require_dir()?;
        tdvp.require_dir()?;
        self.require_writable()?;
        tdvp.require_writable()?;
        check_name(from)?;
        check_name(to)?;
        if [from, to].iter().any(|n| *n == b"." || *n == b"..") {
            return Err(Errno::EINVAL);
        }
        // What the names stand for before the rename, to count links after it. (A rename
        // racing with another change of the same names can leave a count off by one; only
        // `stat` reads it.)
        let moving = self.ops.lookup(from).ok();
        let replaced = tdvp.ops.lookup(to).ok();
        self.ops.rename(self, from, tdvp, to)?;
        if let Some(old) = replaced.filter(|old| moving.as_ref().is_none_or(|m| !Arc::ptr_eq(m, old))) {
            old.name_gone(tdvp);
        }
        if let Some(m) = moving.filter(|m| m.vtype == VType::VDIR && !Arc::ptr_eq(self, tdvp)) {
            // Its `..` now counts in the new parent.
            self.nlink_add(false);
            tdvp.nlink_add(true);
            m.touch(TimeUpdate::Change);
        }
        self.touch(TimeUpdate::Modify);
        tdvp.touch(TimeUpdate::Modify);
        Ok(())
    }

    /// The file system's operations object, for the file system's own use.
    pub fn ops(&self) -> &dyn VnodeOps {
        &*self.ops
    }

    /// The file number `stat` and directory records report.
    pub fn fileid(&self) -> u64 {
        self.fileid
    }

    /// The owner's uid.
    pub fn uid(&self) -> u32 {
        self.uid.load(Ordering::Relaxed)
    }

    /// The group's gid.
    pub fn gid(&self) -> u32 {
        self.gid.load(Ordering::Relaxed)
    }

    /// Gives the vnode to `uid` and `gid`.
    pub fn set_owner(&self, uid: u32, gid: u32) {
        self.uid.store(uid, Ordering::Relaxed);
        self.gid.store(gid, Ordering::Relaxed);
        self.touch(TimeUpdate::Change);
    }

    /// The file system mounted on this directory, if any.
    pub fn mountedhere(&self) -> Option<MountRef> {
        self.mounts.read().mountedhere.clone()
    }

    /// The mount this vnode is the root of, if it is the root of a mounted file system.
    pub fn root_of(&self) -> Option<MountRef> {
        self.mounts.read().root_of.as_ref().and_then(Weak::upgrade)
    }

    /// The vnode's type.
    pub fn vtype(&self) -> VType {
        self.vtype
    }

    /// Type and permission bits, as in `st_mode`.
    pub fn mode(&self) -> u16 {
        self.mode.load(Ordering::Relaxed)
    }

    /// Replaces the permission bits (bits outside [`ALLPERMS`] are dropped); the type stays.
    pub fn chmod(&self, perm: u16) {
        self.mode.store(self.vtype.mode_bits() | (perm & ALLPERMS), Ordering::Relaxed);
        self.touch(TimeUpdate::Change);
    }

    /// The directory this vnode was made in; `None` for a file system's root, or if that
    /// directory is gone.
    pub fn parent(&self) -> Option<VnodeRef> {
        self.parent.read().upgrade()
    }

    /// A rename moved this vnode into directory `dvp` (file systems call this).
    pub fn set_parent(&self, dvp: &VnodeRef) {
        *self.parent.write() = Arc::downgrade(dvp);
    }

    /// Size in bytes (see [`VnodeOps::size`]).
    pub fn size(&self) -> u64 {
        self.ops.size()
    }

    /// The device number of a device node (see [`VnodeOps::rdev`]).
    pub fn rdev(&self) -> u32 {
        self.ops.rdev()
    }

    /// The number of the file system the vnode belongs to (see [`VnodeOps::fsid`]).
    pub fn fsid(&self) -> u32 {
        self.ops.fsid()
    }

    /// Revokes the vnode (a forced unmount took its file system away: XNU's `vgone`, which
    /// hands it to `deadfs`). From now on what deadfs answers: reads `EIO` (a character
    /// device's: end of file), writes `EIO`, lookups and every name operation `ENOTDIR`,
    /// attributes, listings, links' targets, locks and access checks `EBADF`; closing works.
    pub fn revoke(&self) {
        self.dead.store(true, Ordering::Release);
    }

    /// Was it revoked?
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// `EBADF` if revoked (deadfs's answer for attributes and most other operations).
    pub fn require_alive(&self) -> Result<(), Errno> {
        if self.is_dead() { Err(Errno::EBADF) } else { Ok(()) }
    }

    /// Sets a file's length (XNU's `vnode_setattr` with `va_data_size`; see
    /// [`VnodeOps::setsize`]); a changed length is a modification (mtime and ctime). A
    /// directory: `EISDIR`. Any other kind of file has no length to set, and the request
    /// succeeds doing nothing, as XNU's does (so `> /dev/null` works).
    pub fn setsize(&self, size: u64) -> Result<(), Errno> {
        self.require_alive()?;
        match self.vtype {
            VType::VREG => {
                self.require_writable()?;
                let old = self.ops.size();
                self.ops.setsize(size)?;
                if old != size {
                    self.touch(TimeUpdate::Modify);
                }
                Ok(())
            }
            VType::VDIR => Err(Errno::EISDIR),
            _ => Ok(()),
        }
    }

    /// The VM object behind a regular file, for `mmap` (`ubc_getobject`). Not a regular
    /// file: `EINVAL` (XNU's `mmap` refuses every other kind but character devices, which
    /// are `ENODEV`); a file system that keeps no pages: `ENODEV`.
    pub fn ubc_getobject(&self) -> Result<ObjectRef, Errno> {
        self.require_alive()?;
        match self.vtype {
            VType::VREG => self.ops.vm_object().ok_or(Errno::ENODEV),
            VType::VCHR => Err(Errno::ENODEV),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The file's advisory locks, where the vnode layer keeps them (see
    /// [`VnodeOps::local_locks`]). A FIFO, or a file of a file system that keeps none:
    /// `ENOTSUP`.
    pub fn advlock(&self) -> Result<&Lockf, Errno> {
        self.require_alive()?;
        if self.vtype == VType::VFIFO || !self.ops.local_locks() {
            return Err(Errno::ENOTSUP);
        }
        Ok(&self.lockf)
    }

    /// Finds one component in this directory. `.` is the directory itself; `..` is its
    /// parent, or itself at a file system's root. Not a directory: `ENOTDIR`.
    pub fn lookup(self: &Arc<Self>, name: &[u8]) -> Result<VnodeRef, Errno> {
        self.require_dir()?;
        match name {
            b"." => Ok(self.clone()),
            b".." => Ok(self.parent().unwrap_or_else(|| self.clone())),
            _ => {
                check_name(name)?;
                self.ops.lookup(name)
            }
        }
    }

    /// Reads from byte `off` into `buf`; returns the count, 0 at end of file.
    /// A directory: `EISDIR`.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.is_dead() {
            return if self.vtype == VType::VCHR { Ok(0) } else { Err(Errno::EIO) };
        }
        self.require_not_dir()?;
        self.ops.read_at(off, buf)
    }

    /// Writes `buf` at byte `off`; returns the count. A directory: `EISDIR`.
    pub fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        if self.is_dead() {
            return Err(Errno::EIO);
        }
        self.require_not_dir()?;
        if self.vtype == VType::VREG {
            self.require_writable()?;
        }
        self.ops.write_at(off, buf)
    }

    /// The whole contents of a regular file (for tests: exec reads only what it maps). A
    /// directory: `EISDIR`; no memory for it: `ENOMEM`.
    #[cfg(test)]
    pub fn read_to_vec(&self) -> Result<Vec<u8>, Errno> {
        self.require_not_dir()?;
        let len = usize::try_from(self.size()).map_err(|_| Errno::EFBIG)?;
        let mut data = Vec::new();
        data.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
        data.resize(len, 0);
        let mut done = 0;
        while let Some(rest) = data.get_mut(done..) {
            if rest.is_empty() {
                break;
            }
            let n = self.ops.read_at(done as u64, rest)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        // The file may have shrunk between `size` and the last read.
        data.truncate(done);
        Ok(data)
    }

    /// The target of a symbolic link. Anything else: `EINVAL`.
    pub fn readlink(&self) -> Result<Vec<u8>, Errno> {
        self.require_alive()?;
        if self.vtype != VType::VLNK {
            return Err(Errno::EINVAL);
        }
        self.ops.readlink()
    }

    /// The entries of a directory, without `.` and `..`.
    pub fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        self.require_alive()?;
        self.require_dir()?;
        self.ops.readdir()
    }

    /// Makes directory `name` here. Exists: `EEXIST`.
    pub fn mkdir(self: &Arc<Self>, name: &[u8], perm: u16) -> Result<VnodeRef, Errno> {
        self.require_dir()?;
        self.require_writable()?;
        check_new_name(name)?;
        let vp = self.ops.mkdir(self, name, perm)?;
        // The new directory's `..`.
        self.nlink_add(true);
        self.touch(TimeUpdate::Modify);
        Ok(vp)
    }

    /// Makes an empty regular file `name` here. Exists: `EEXIST`.
    pub fn create(self: &Arc<Self>, name: &[u8], perm: u16) -> Result<VnodeRef, Errno> {
        self.require_dir()?;
        self.require_writable()?;
        check_new_name(name)?;
        let vp = self.ops.create(self, name, perm)?;
        self.touch(TimeUpdate::Modify);
        Ok(vp)
    }

    /// Makes special file `name` here: a FIFO (`VFIFO`), or a device node (`VCHR`,
    /// `VBLK`) for device `rdev`. Any other type: `EINVAL`.
    pub fn mknod(
        self: &Arc<Self>,
        name: &[u8],
        vtype: VType,
        perm: u16,
        rdev: u32,
    ) -> Result<VnodeRef, Errno> {
        self.require_dir()?;
        self.require_writable()?;
        check_new_name(name)?;
        if !matches!(vtype, VType::VFIFO | VType::VCHR | VType::VBLK) {
            return Err(Errno::EINVAL);
        }
        let vp = self.ops.mknod(self, name, vtype, perm, rdev)?;
        self.touch(TimeUpdate::Modify);
        Ok(vp)
    }

    /// Makes symbolic link `name` here pointing at `target`. An empty target: `ENOENT`; one
    /// as long as [`MAXPATHLEN`] or longer: `ENAMETOOLONG`; one containing NUL: `EINVAL`.
    pub fn symlink(self: &Arc<Self>, name: &[u8], perm: u16, target: &[u8]) -> Result<VnodeRef, Errno> {
        self.require_dir()?;
        self.require_writable()?;
        check_new_name(name)?;
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() >= MAXPATHLEN {
            return Err(Errno::ENAMETOOLONG);
        }
        if target.contains(&0) {
            return Err(Errno::EINVAL);
        }
        let vp = self.ops.symlink(self, name, perm, target)?;
        self.touch(TimeUpdate::Modify);
        Ok(vp)
    }

    /// Enters `vp` here under `name` as a hard link. `vp` a directory: `EPERM`, as in XNU.
    pub fn link(&self, name: &[u8], vp: &VnodeRef) -> Result<(), Errno> {
        self.require_dir()?;
        self.require_writable()?;
        check_new_name(name)?;
        if vp.vtype == VType::VDIR {
            return Err(Errno::EPERM);
        }
        if vp.nlink() >= LINK_MAX {
            return Err(Errno::EMLINK);
        }
        self.ops.link(name, vp)?;
        vp.nlink_add(true);
        vp.touch(TimeUpdate::Change);
        self.touch(TimeUpdate::Modify);
        Ok(())
    }

    /// May `cred` do `want` ([`VREAD`], [`VWRITE`], [`VEXEC`], or several) to this vnode
    /// (XNU's `vnode_authorize`, as BSD's `vaccess` decides it)? The owner is held to the
    /// owner bits, a member of the group to the group bits, everyone else to the other bits —
    /// one class only, so an owner without a bit does not get it from the group. Root may do
    /// anything, except execute a file that has no execute bit at all (a directory it may
    /// always search). `EACCES` when refused; a write to a file system mounted read-only
    /// `EROFS`.
    pub fn authorize(&self, cred: &KauthCred, want: u16) -> Result<(), Errno> {
        self.require_alive()?;
        let want = want & (VREAD | VWRITE | VEXEC);
        // Writing a file, directory or link of a read-only file system: EROFS for everyone,
        // as XNU's `vnode_authorize` answers (devices and FIFOs are not its data).
        if want & VWRITE != 0 && matches!(self.vtype, VType::VREG | VType::VDIR | VType::VLNK) {
            self.require_writable()?;
        }
        let mode = self.mode();
        if cred.uid == 0 {
            let exec_denied = want & VEXEC != 0 && self.vtype != VType::VDIR && mode & 0o111 == 0;
            return if exec_denied { Err(Errno::EACCES) } else { Ok(()) };
        }
        let granted = if cred.uid == self.uid() {
            mode & 0o700
        } else if cred.groups.member(cred.gid, self.gid()) {
            (mode & 0o070) << 3
        } else {
            (mode & 0o007) << 6
        };
        if want & !granted == 0 { Ok(()) } else { Err(Errno::EACCES) }
    }

    /// Its file system is writable: mounted read-only, `EROFS` (see `vfs_isrdonly`).
    fn require_writable(&self) -> Result<(), Errno> {
        if crate::vfs::vfs_mount::vfs_isrdonly(self) { Err(Errno::EROFS) } else { Ok(()) }
    }

    /// A live directory: anything else, or a revoked one (deadfs's lookup), `ENOTDIR`.
    fn require_dir(&self) -> Result<(), Errno> {
        match self.vtype {
            VType::VDIR if !self.is_dead() => Ok(()),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn require_not_dir(&self) -> Result<(), Errno> {
        match self.vtype {
            VType::VDIR => Err(Errno::EISDIR),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for Vnode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vnode")
            .field("vtype", &self.vtype)
            .field("mode", &format_args!("{:#o}", self.mode()))
            .finish_non_exhaustive()
    }
}

/// A single path component as a file system may see it: not empty, no `/` or NUL, at most
/// [`NAME_MAX`] bytes.
fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A name a new entry may take: a valid component other than `.` and `..`, which every
/// directory already has.
fn check_new_name(name: &[u8]) -> Result<(), Errno> {
    check_name(name)?;
    match name {
        b"." | b".." => Err(Errno::EEXIST),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::ramfs::ramfs_new_root;

    #[test]
    fn vtype_values_are_xnu() {
        assert_eq!(VType::VNON as u32, 0);
        assert_eq!(VType::VREG as u32, 1);
        assert_eq!(VType::VDIR as u32, 2);
        assert_eq!(VType::VBLK as u32, 3);
        assert_eq!(VType::VCHR as u32, 4);
        assert_eq!(VType::VLNK as u32, 5);
        assert_eq!(VType::VSOCK as u32, 6);
        assert_eq!(VType::VFIFO as u32, 7);
    }

    #[test]
    fn vtype_mode_round_trip() {
        for t in [VType::VREG, VType::VDIR, VType::VBLK, VType::VCHR, VType::VLNK, VType::VSOCK, VType::VFIFO]
        {
            assert_eq!(VType::from_mode(t.mode_bits() | 0o644), t);
        }
        assert_eq!(VType::from_mode(0o644), VType::VNON);
        assert_eq!(VType::VNON.mode_bits(), 0);
    }

    struct Nothing;
    impl VnodeOps for Nothing {
        fn size(&self) -> u64 {
            0
        }
    }

    #[test]
    fn mode_keeps_type_and_masks_permissions() {
        let v = Vnode::new(VType::VREG, 0o177755, None, Box::new(Nothing)).unwrap();
        assert_eq!(v.mode(), S_IFREG | 0o7755);
        v.chmod(0o600 | S_IFDIR);
        assert_eq!(v.mode(), S_IFREG | 0o600);
        assert_eq!(v.vtype(), VType::VREG);
    }

    #[test]
    fn default_ops_fail_with_the_right_errors() {
        let file = Vnode::new(VType::VREG, 0o644, None, Box::new(Nothing)).unwrap();
        assert_eq!(file.lookup(b"x").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(file.lookup(b".").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(file.readdir().unwrap_err(), Errno::ENOTDIR);
        assert_eq!(file.mkdir(b"x", 0o755).unwrap_err(), Errno::ENOTDIR);
        assert_eq!(file.readlink().unwrap_err(), Errno::EINVAL);
        assert_eq!(file.read_at(0, &mut [0; 4]).unwrap_err(), Errno::EINVAL);

        let dir = Vnode::new(VType::VDIR, 0o755, None, Box::new(Nothing)).unwrap();
        assert_eq!(dir.read_at(0, &mut [0; 4]).unwrap_err(), Errno::EISDIR);
        assert_eq!(dir.write_at(0, b"x").unwrap_err(), Errno::EISDIR);
        assert_eq!(dir.read_to_vec().unwrap_err(), Errno::EISDIR);
        assert_eq!(dir.mkdir(b"x", 0o755).unwrap_err(), Errno::ENOTSUP);
        assert_eq!(dir.link(b"x", &file).unwrap_err(), Errno::ENOTSUP);
    }

    #[test]
    fn dot_and_dotdot() {
        let root = ramfs_new_root();
        let a = root.mkdir(b"a", 0o755).unwrap();
        assert!(Arc::ptr_eq(&a.lookup(b".").unwrap(), &a));
        assert!(Arc::ptr_eq(&a.lookup(b"..").unwrap(), &root));
        assert!(Arc::ptr_eq(&root.lookup(b"..").unwrap(), &root));
        assert!(root.parent().is_none());
        assert!(Arc::ptr_eq(&a.parent().unwrap(), &root));
    }

    #[test]
    fn names_are_checked_before_the_file_system_sees_them() {
        let root = ramfs_new_root();
        let long = [b'n'; NAME_MAX + 1];
        assert_eq!(root.lookup(&long).unwrap_err(), Errno::ENAMETOOLONG);
        assert_eq!(root.mkdir(&long, 0o755).unwrap_err(), Errno::ENAMETOOLONG);
        assert!(root.mkdir(&long[..NAME_MAX], 0o755).is_ok());
        assert_eq!(root.create(b"", 0o644).unwrap_err(), Errno::EINVAL);
        assert_eq!(root.create(b"a/b", 0o644).unwrap_err(), Errno::EINVAL);
        assert_eq!(root.create(b"a\0b", 0o644).unwrap_err(), Errno::EINVAL);
        assert_eq!(root.mkdir(b".", 0o755).unwrap_err(), Errno::EEXIST);
        assert_eq!(root.mkdir(b"..", 0o755).unwrap_err(), Errno::EEXIST);
    }

    #[test]
    fn symlink_targets_are_checked() {
        let root = ramfs_new_root();
        assert_eq!(root.symlink(b"l", 0o755, b"").unwrap_err(), Errno::ENOENT);
        assert_eq!(root.symlink(b"l", 0o755, b"a\0").unwrap_err(), Errno::EINVAL);
        let long = [b'a'; MAXPATHLEN];
        assert_eq!(root.symlink(b"l", 0o755, &long).unwrap_err(), Errno::ENAMETOOLONG);
        let l = root.symlink(b"l", 0o755, &long[..MAXPATHLEN - 1]).unwrap();
        assert_eq!(l.readlink().unwrap().len(), MAXPATHLEN - 1);
    }

    #[test]
    fn hard_link_to_a_directory_is_refused() {
        let root = ramfs_new_root();
        let a = root.mkdir(b"a", 0o755).unwrap();
        assert_eq!(root.link(b"b", &a).unwrap_err(), Errno::EPERM);
    }

    #[test]
    fn read_to_vec_reads_everything() {
        let root = ramfs_new_root();
        let f = root.create(b"f", 0o644).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        f.write_at(0, &data).unwrap();
        assert_eq!(f.read_to_vec().unwrap(), data);
    }

    #[test]
    fn debug_shows_type_and_mode() {
        let root = ramfs_new_root();
        let s = std::format!("{root:?}");
        assert!(s.contains("VDIR") && s.contains("0o40755"), "{s}");
    }

    #[test]
    fn the_vnode_table_is_bounded_and_gives_back() {
        static TABLE: VnodeTable = VnodeTable::new(2);
        let a = TABLE.reserve().unwrap();
        let b = TABLE.reserve().unwrap();
        assert_eq!(TABLE.reserve().err(), Some(Errno::ENFILE), "past kern.maxvnodes");
        assert_eq!(TABLE.counts(), (2, 2));
        drop(a);
        let c = TABLE.reserve().unwrap();
        assert_eq!(TABLE.set_limit(0), Err(Errno::EINVAL));
        TABLE.set_limit(1).unwrap();
        assert_eq!(TABLE.reserve().err(), Some(Errno::ENFILE), "a lower limit leaves what exists");
        drop((b, c));
        assert_eq!(TABLE.counts(), (1, 0));
        assert_eq!(desiredvnodes(512 << 20), 8192 + 1024);
        assert_eq!(desiredvnodes(1 << 40), CONFIG_VNODES);
    }
}
